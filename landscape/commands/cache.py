"""``landscape cache ls | rm | verify``: list, remove and check entries of the result store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landscape.commands._args import add_store_flag, store_path
from landscape.commands._cliutil import add_json_flag, emit_json

if TYPE_CHECKING:  # the store (h5py) is imported by the subcommands that use it
    from landscape.store.listing import EntrySummary
    from landscape.store.store import Store

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


def _status(s: EntrySummary) -> str:
    text = s.status + (f" {s.done}" if s.done else "")
    if s.status == "ok" and s.format == 1:
        text += " (store format 1: unchunked datasets carry no checksum)"
    return text + (f": {s.error}" if s.error else "")


def _legacy_note(store: Store, kind: str) -> str | None:
    if kind != "legacy":
        return None
    return (f"{store.root} has no .landscape-store marker (a store written by an older "
            "landscape): it is marked on its next write")


def _ls(args: argparse.Namespace) -> int:
    from landscape.store import Store, listing

    store = Store(store_path(args.store), readonly=True)
    kind = listing.require_store(store.backend, "listed")
    entries = listing.entries(store.backend, check="full", limit=store.verify_bytes)
    stale = store.stale_temporaries()
    other = store.backend.layout.foreign()
    aside = listing.moved_aside(store.backend)
    if args.json:
        emit_json({
            "store": str(store.root), "marked": kind == "store",
            "entries": [s.to_dict() for s in entries],
            "total_size": sum(s.size for s in entries),
            "stale_temporaries": [str(p) for p in stale],
            "moved_aside": [str(p) for p in aside],
            "other_files": [str(p) for p in other],
        })
        return 0
    if not entries:
        print(f"store {store.root}: empty")
    else:
        print(f"{'KEY':<12}  {'ANALYSIS':<20} {'V':>2}  {'INPUTS':<28} {'SIZE':>9} "
              f"{'AGE':>6}  STATUS")
        for s in entries:
            print(f"{s.key[:12]:<12}  {s.name or '?':<20} {s.version or '?':>2}  "
                  f"{_inputs(s):<28} {format_size(s.size):>9} {_age(s.age_days):>6}  "
                  f"{_status(s)}")
        total = format_size(sum(s.size for s in entries))
        print(f"{len(entries)} entries, {total} in {store.root}")
    notes = [_legacy_note(store, kind)]
    if stale:
        notes.append(f"{len(stale)} temporary file(s) left by killed writers: "
                     "`landscape cache rm --tmp`")
    if aside:
        size = format_size(sum(p.stat().st_size for p in aside))
        notes.append(f"{len(aside)} corrupt file(s) moved aside into {store.root / '.corrupt'} "
                     f"({size}): inspect them, or `landscape cache rm --corrupt`")
    if other:
        names = ", ".join(p.name for p in other[:3]) + (" ..." if len(other) > 3 else "")
        notes.append(f"{len(other)} other file(s) here are not store entries and are never "
                     f"touched: {names}")
    for note in filter(None, notes):
        print(note)
    return 0


def _select(args: argparse.Namespace, store: Store) -> list[EntrySummary]:
    ours = [s for s in store.entries() if s.identified]
    if args.keys:
        wanted = set()
        for prefix in args.keys:
            try:
                wanted.add(store.resolve(prefix))
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        return [s for s in ours if s.key in wanted]
    if args.analysis or args.older_than is not None:
        now = time.time()
        return [
            s for s in ours
            if (not args.analysis or s.name == args.analysis)
            and (args.older_than is None or now - s.created_unix > args.older_than * 86400)
        ]
    return []


def _confirm(count: int, size: int, root: Path) -> bool:
    what = f"{count} file(s) ({format_size(size)}) from {root}"
    if not sys.stdin.isatty():
        raise ValueError(
            f"cache rm would remove {what}, but stdin is not a terminal to confirm it: pass "
            "--yes to remove them, or --dry-run to only list them"
        )
    print(f"remove {what}? [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _rm(args: argparse.Namespace) -> int:
    if not (args.keys or args.analysis or args.older_than is not None or args.tmp
            or args.corrupt):
        raise ValueError("say what to remove: KEY ..., --analysis NAME, --older-than DAYS, "
                         "--tmp or --corrupt")
    if args.keys and (args.analysis or args.older_than is not None):
        raise ValueError("give either KEYs or filters (--analysis/--older-than), not both")
    if args.older_than is not None and args.older_than < 0:
        raise ValueError(f"--older-than takes days >= 0, got {args.older_than}")
    from landscape.store import Store, listing

    store = Store(store_path(args.store))
    listing.require_store(store.backend, "removed")
    chosen = _select(args, store)
    extra = (store.stale_temporaries() if args.tmp else []) + (
        listing.moved_aside(store.backend) if args.corrupt else [])
    size = sum(s.size for s in chosen) + sum(p.stat().st_size for p in extra)
    verb = "would remove" if args.dry_run else "removed"
    lines = [f"{s.key[:12]}  {s.name or '?'}  {s.status}  {format_size(s.size)}" for s in chosen]
    lines += [str(p) for p in extra]
    if not args.json:
        for line in lines:
            print(f"{verb if args.dry_run else 'remove'} {line}")
    if chosen or extra:
        if not (args.dry_run or args.yes or _confirm(len(lines), size, store.root)):
            print("nothing removed")
            return 1
        if not args.dry_run:
            store.backend.prepare_write("cannot remove entries")
            for s in chosen:
                listing.remove_summarised(store.backend, s)
            for path in extra:
                path.unlink(missing_ok=True)
    if args.json:
        emit_json({"removed": [s.to_dict() for s in chosen], "files": [str(p) for p in extra],
                   "dry_run": args.dry_run, "freed_bytes": size})
        return 0
    print(f"{verb} {len(chosen)} entries ({format_size(sum(s.size for s in chosen))})"
          + (f" and {len(extra)} other file(s) of the store" if extra else ""))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from landscape.store import Store, listing

    store = Store(store_path(args.store), readonly=not args.move_aside)
    kind = listing.require_store(store.backend, "checked")
    summaries = store.entries(check="full")
    corrupt = [s for s in summaries if s.status == "corrupt"]
    old = [s for s in summaries if s.status == "ok" and s.format == 1]
    moved: dict[str, Any] = {}
    if args.move_aside and corrupt:
        store.backend.prepare_write("cannot move corrupt entries aside")
        for s in corrupt:
            dest = listing.move_aside_if_damaged(store.backend, Path(s.path))
            moved[s.path] = str(dest) if dest else None
    if args.json:
        emit_json({"store": str(store.root), "checked": len(summaries),
                   "corrupt": [{**s.to_dict(), "moved_to": moved.get(s.path)} for s in corrupt],
                   "unchecksummed": [s.key for s in old]})
        return 1 if corrupt else 0
    print(f"checked {len(summaries)} entries and partial results in {store.root}: "
          f"{len(corrupt)} corrupt")
    for s in corrupt:
        dest = moved.get(s.path)
        print(f"corrupt  {s.key[:12]}  {s.name or '?'}  {s.error}"
              + (f"  -> moved to {dest}" if dest else ""))
    notes = [_legacy_note(store, kind)]
    if old:
        notes.append(f"{len(old)} entries of store format 1 (written before every dataset was "
                     "checksummed) were checked as far as they can be; `landscape cache rm "
                     "KEY` makes the next run recompute one")
    if corrupt and not args.move_aside:
        notes.append(f"run `landscape cache verify --store {store.root} --move-aside` to move "
                     "them into .corrupt/ (the next run recomputes them)")
    for note in filter(None, notes):
        print(note)
    return 1 if corrupt else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape cache ls``, ``landscape cache rm`` and ``landscape cache verify``."""
    p = sub.add_parser("cache", help="list, check or remove cached results in the result store")
    csub = p.add_subparsers(dest="cache_command", metavar="ls|rm|verify", required=True)

    ls = csub.add_parser("ls", help="list entries: key, analysis, inputs, size, age, status "
                                    "(each entry checked as a lookup checks it)")
    add_store_flag(ls)
    add_json_flag(ls)
    ls.set_defaults(func=_ls)

    rm = csub.add_parser(
        "rm", help="remove entries by key (or unique prefix) or by filter",
        description="Remove entries of a result store. Only files positively identified as "
                    "the store's entries are removed; key prefixes match keys, never file "
                    "names. Without --yes, rm lists what it would remove and asks on a "
                    "terminal; when stdin is not a terminal it refuses (pass --yes).")
    rm.add_argument("keys", nargs="*", metavar="KEY", help="entry key or unique prefix")
    rm.add_argument("--analysis", metavar="NAME", help="remove every entry of this analysis")
    rm.add_argument("--older-than", type=float, metavar="DAYS",
                    help="remove entries created more than DAYS days ago")
    rm.add_argument("--tmp", action="store_true",
                    help="also remove temporary files left by killed writers")
    rm.add_argument("--corrupt", action="store_true",
                    help="also remove the corrupt files the store moved into .corrupt/")
    rm.add_argument("--dry-run", action="store_true", help="only list what would go")
    rm.add_argument("--yes", action="store_true",
                    help="remove without asking (needed when stdin is not a terminal)")
    add_store_flag(rm)
    add_json_flag(rm)
    rm.set_defaults(func=_rm)

    verify = csub.add_parser(
        "verify", help="check every dataset of every entry; exit status 1 if any is corrupt")
    add_store_flag(verify)
    verify.add_argument("--move-aside", action="store_true",
                        help="move corrupt entries into .corrupt/ (recomputed on next use)")
    add_json_flag(verify)
    verify.set_defaults(func=_verify)
