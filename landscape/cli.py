"""The ``landscape`` command line: one entry point, subcommands owned by their modules.

Each module listed in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its
subcommand(s) and sets ``func`` (``args -> exit code``) on them. The CLI only parses, calls
the library and prints; no computation lives here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from landscape import __version__

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "landscape.commands.info",
    "landscape.commands.train",
    "landscape.commands.cache",
    "landscape.commands.features",
    "landscape.commands.curve",
    "landscape.commands.tradeoff",
    "landscape.commands.hessian",
    "landscape.commands.sharpness",
    "landscape.commands.flatness",
    "landscape.commands.surface",
    "landscape.commands.project",
    "landscape.commands.verify",
    "landscape.commands.report",
    "landscape.commands.demo",
)

# Errors that are the user's to fix: printed as one clear line, exit status 2.
_USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="landscape",
        description="Loss-landscape and Hessian analysis of trained networks.",
    )
    parser.add_argument("--version", action="version", version=f"landscape {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    args.argv = argv  # the command as typed (train prints the exact resume command from it)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader went away (`landscape info RUN | head`): stop quietly, and keep Python's
        # final flush of stdout from raising again at exit
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
    except _USER_ERRORS as exc:
        print(f"landscape {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"landscape {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
