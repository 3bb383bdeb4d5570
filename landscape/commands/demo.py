"""``landscape demo``: the main job end to end on the embedded MNIST digits (see landscape.demo)."""

from __future__ import annotations

import argparse

from landscape.commands._cliutil import (
    add_device_flag,
    add_json_flag,
    add_progress_flag,
    emit_json,
    resolve_device,
    show_progress,
)

__all__ = ["register"]

# landscape.demo.PRESETS (checked by a test): the parser is built without importing the demo
PRESETS = ("mnist5k", "tiny")


def _run(args: argparse.Namespace) -> int:
    from landscape.demo import format_demo, run_demo

    device = resolve_device(args.device)
    result = run_demo(args.out, args.figures, preset=args.preset, device=device,
                      progress=show_progress(args),
                      log=(lambda s: None) if args.json else (lambda s: print(s, flush=True)))
    if args.json:
        emit_json(result)
    else:
        print(format_demo(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape demo``."""
    p = sub.add_parser("demo", help="the main job end to end on the embedded MNIST digits",
                       description="The main job of the suite, end to end, on the embedded "
                                   "MNIST digits: trains, analyses, judges and draws; a second "
                                   "run answers everything from the result store.")
    p.add_argument("--out", default="checkpoints/demo", help="runs, curves and the store")
    p.add_argument("--figures", default="figures/demo", help="where figures are written")
    p.add_argument("--preset", choices=PRESETS, default="mnist5k")
    add_device_flag(p)
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_run)
