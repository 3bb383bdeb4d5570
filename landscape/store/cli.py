"""``landscape cache ls | rm``: list and remove entries of the result store."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from landscape._cliutil import add_json_flag, emit_json
from landscape.store.store import EntrySummary, Store

__all__ = ["format_size", "register"]


def format_size(n: float) -> str:
    """Human-readable byte count.

    >>> format_size(512), format_size(3_500_000)
    ('512 B', '3.5 MB')
    """
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _age(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1440:.0f}m"
    return f"{days * 24:.1f}h" if days < 1 else f"{days:.1f}d"


def _inputs(s: EntrySummary) -> str:
    return ",".join(f"{k}={v[:8]}" for k, v in sorted(s.inputs.items())) or "-"


def _ls(args: argparse.Namespace) -> int:
    store = Store(args.store, readonly=True)
    entries = store.entries()
    stale = store.stale_temporaries()
    if args.json:
        emit_json({
            "store": str(store.root),
            "entries": [s.to_dict() for s in entries],
            "total_size": sum(s.size for s in entries),
            "stale_temporaries": [str(p) for p in stale],
        })
        return 0
    if not entries:
        print(f"store {store.root}: empty")
    else:
        print(f"{'KEY':<12}  {'ANALYSIS':<20} {'V':>2}  {'INPUTS':<28} {'SIZE':>9} "
              f"{'AGE':>6}  STATUS")
        for s in entries:
            status = s.status + (f" {s.done}" if s.done else "")
            status += f": {s.error}" if s.error else ""
            print(f"{s.key[:12]:<12}  {s.name or '?':<20} {s.version or '?':>2}  "
                  f"{_inputs(s):<28} {format_size(s.size):>9} {_age(s.age_days):>6}  {status}")
        total = format_size(sum(s.size for s in entries))
        print(f"{len(entries)} entries, {total} in {store.root}")
    if stale:
        print(f"{len(stale)} temporary file(s) left by killed writers: `landscape cache rm --tmp`")
    return 0


def _rm(args: argparse.Namespace) -> int:
    if not (args.keys or args.analysis or args.older_than is not None or args.tmp):
        raise ValueError("say what to remove: KEY ..., --analysis NAME, --older-than DAYS or --tmp")
    if args.keys and (args.analysis or args.older_than is not None):
        raise ValueError("give either KEYs or filters (--analysis/--older-than), not both")
    if args.older_than is not None and args.older_than < 0:
        raise ValueError(f"--older-than takes days >= 0, got {args.older_than}")
    store = Store(args.store)
    chosen: list[EntrySummary] = []
    if args.keys:
        wanted = set()
        for prefix in args.keys:
            try:
                wanted.add(store.resolve(prefix))
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        chosen = [s for s in store.entries() if s.key in wanted]
    elif args.analysis or args.older_than is not None:
        now = time.time()
        chosen = [
            s for s in store.entries()
            if (not args.analysis or s.name == args.analysis)
            and (args.older_than is None or now - s.created_unix > args.older_than * 86400)
        ]
    removed = []
    for s in chosen:
        if not args.dry_run:
            Path(s.path).unlink(missing_ok=True)
        removed.append(s)
    freed_tmp = 0 if (args.dry_run or not args.tmp) else store.clean()
    if args.json:
        emit_json({"removed": [s.to_dict() for s in removed], "dry_run": args.dry_run,
                   "freed_bytes": sum(s.size for s in removed) + freed_tmp})
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for s in removed:
        print(f"{verb} {s.key[:12]}  {s.name or '?'}  {s.status}  {format_size(s.size)}")
    print(f"{verb} {len(removed)} entries ({format_size(sum(s.size for s in removed))})"
          + (f", {format_size(freed_tmp)} of temporary files" if args.tmp else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape cache ls`` and ``landscape cache rm``."""
    p = sub.add_parser("cache", help="list or remove cached results in the result store")
    csub = p.add_subparsers(dest="cache_command", metavar="ls|rm", required=True)
    store_help = "result store directory (default: ./store)"

    ls = csub.add_parser("ls", help="list entries: key, analysis, inputs, size, age, status")
    ls.add_argument("--store", metavar="PATH", default="store", help=store_help)
    add_json_flag(ls)
    ls.set_defaults(func=_ls)

    rm = csub.add_parser("rm", help="remove entries by key (or unique prefix) or by filter")
    rm.add_argument("keys", nargs="*", metavar="KEY", help="entry key or unique prefix")
    rm.add_argument("--analysis", metavar="NAME", help="remove every entry of this analysis")
    rm.add_argument("--older-than", type=float, metavar="DAYS",
                    help="remove entries created more than DAYS days ago")
    rm.add_argument("--tmp", action="store_true",
                    help="also remove temporary files left by killed writers")
    rm.add_argument("--dry-run", action="store_true", help="only print what would go")
    rm.add_argument("--store", metavar="PATH", default="store", help=store_help)
    add_json_flag(rm)
    rm.set_defaults(func=_rm)
