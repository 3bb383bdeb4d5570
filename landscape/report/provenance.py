"""The exact command behind every number of the report, and behind every missing one.

:func:`entry_command` rebuilds, from a store entry's analysis name, parameters and inputs,
the ``landscape`` command that asks the same question (so it answers from the store with the
same key); :func:`train_command` rebuilds the ``landscape train`` line of a run from its
``config.json``. A new cached analysis adds its rebuilder to :data:`COMMANDS`. Paths are
written as the report reached them (relative when the experiment path given was), and
``--store`` only when the store is not the one beside the runs, where every command looks
by default.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from landscape.report.gather import Experiment, Point, Run, StoredEntry

__all__ = ["COMMANDS", "entry_command", "join", "store_flag", "train_command"]


def join(*words: Any) -> str:
    """A shell command line from words (quoted where needed).

    >>> join("landscape", "hessian", "my runs/sgd", "--top-k", 10)
    "landscape hessian 'my runs/sgd' --top-k 10"
    """
    return shlex.join(str(w) for w in words)


def store_flag(exp: Experiment) -> list[str]:
    """``["--store", DIR]`` unless the store is the default one beside the runs."""
    if exp.store is None or exp.default_store:
        return []
    return ["--store", str(exp.store.root)]


def _data_flags(entry: StoredEntry) -> list[str]:
    """``--subset``/``--dtype``/``--split`` from the entry's data identity, when not default."""
    data = entry.entry.attrs.get("dataset") or {}
    if "train" in data and isinstance(data["train"], dict):  # curves: {"train":, "test":}
        data = data["train"]
    out: list[str] = []
    if data.get("subset") is not None:
        out += ["--subset", str(data["subset"])]
    if data.get("dtype") not in (None, "float32"):
        out += ["--dtype", str(data["dtype"])]
    return out


def _optional(params: dict[str, Any], defaults: dict[str, tuple[str, Any]]) -> list[str]:
    out: list[str] = []
    for key, (flag, default) in defaults.items():
        value = params.get(key, default)
        if value != default and value is not None:
            out += [flag, *(map(str, value) if isinstance(value, list) else [str(value)])]
    return out


def _checkpoint(point: Point | None) -> list[str]:
    if point is None:
        raise LookupError("no checkpoint of this experiment")
    return [str(point.run.path), "--epoch", str(point.epoch)]


def _split(entry: StoredEntry) -> list[str]:
    data = entry.entry.attrs.get("dataset") or {}
    return ["--split", "test"] if data.get("split") == "test" else []


def _hessian(exp: Experiment, e: StoredEntry) -> str:
    p = e.params
    flags = _optional(p, {"which": ("--which", "LA"), "tol": ("--tol", 1e-3),
                          "max_basis": ("--max-basis", None), "block_size": ("--block-size", 1),
                          "seed": ("--seed", 0), "params": ("--params", None)})
    return join("landscape", "hessian", *_checkpoint(e.roles.get("checkpoint")), "--top-k",
                p["k"], *flags, *_split(e), *_data_flags(e), *store_flag(exp))


def _spectrum(exp: Experiment, e: StoredEntry) -> str:
    p = e.params
    flags = _optional(p, {"sigma": ("--sigma", None), "grid_size": ("--grid-size", 1000),
                          "seed": ("--seed", 0), "params": ("--params", None)})
    return join("landscape", "spectrum", *_checkpoint(e.roles.get("checkpoint")), "--probes",
                p["num_probes"], "--steps", p["num_steps"], "--trace-probes",
                p["trace_probes"], *flags, *_split(e), *_data_flags(e), *store_flag(exp))


def _curve_flags(e: StoredEntry) -> list[str]:
    if e.curve is None:
        raise LookupError("no fitted curve of this experiment joins these checkpoints")
    batch = e.params.get("eval_batch_size")
    return [str(e.curve.path), *(["--batch-size", str(batch)] if batch not in (None, 1000)
                                 else [])]


def _along(exp: Experiment, e: StoredEntry) -> str:
    return join("landscape", "curve", "eval", *_curve_flags(e), "--points", e.params["points"],
                *store_flag(exp))


def _plane(exp: Experiment, e: StoredEntry) -> str:
    margin = e.params.get("margin", 0.2)
    return join("landscape", "curve", "plane", *_curve_flags(e), "--grid", e.params["grid"],
                *(["--margin", f"{margin:g}"] if margin != 0.2 else []), *store_flag(exp))


def _projection(exp: Experiment, e: StoredEntry) -> str:
    sgd, grda, base = (e.roles.get(r) for r in ("sgd", "grda", "baseline"))
    if sgd is None or grda is None:
        raise LookupError("its runs are not in this experiment")
    extra = [] if base is None else ["--baseline-run", str(base.run.path)]
    # every epoch (the command also compares the final minima, which --at-epochs would move)
    line = join("landscape", "project", sgd.run.path, grda.run.path, "--top-k",
                e.params["top_k"], *extra, *_data_flags(e), *store_flag(exp))
    other = {k: v for k, v in e.params.items() if k in ("tol", "random_probes")
             and v != {"tol": 1e-3, "random_probes": 64}[k]}
    return line + (f"  # with {other} (library call: projection_over_epochs)" if other else "")


def _features(exp: Experiment, e: StoredEntry) -> str:
    p = e.params
    flags = _optional(p, {"xi": ("--xi", 1e-6)})
    return join("landscape", "features", *_checkpoint(e.roles.get("checkpoint")), *flags,
                *_split(e), *_data_flags(e), *store_flag(exp))


COMMANDS: dict[str, Callable[[Experiment, StoredEntry], str]] = {
    "hessian.topk": _hessian,
    "hessian.spectrum": _spectrum,
    "curves.along": _along,
    "curves.plane": _plane,
    "projection.epoch": _projection,
    "features": _features,
    "features.pass": _features,
}
"""Analysis name -> ``(experiment, entry) -> command line`` (add one per cached analysis)."""


def entry_command(exp: Experiment, entry: StoredEntry) -> str:
    """The command that asks ``entry``'s question (answering from the store).

    An analysis without a rebuilder, or an entry whose inputs are not all checkpoints of
    this experiment, gets the ``landscape cache ls`` line that lists it.
    """
    rebuild = COMMANDS.get(entry.name)
    if rebuild is not None:
        try:
            return rebuild(exp, entry)
        except LookupError:
            pass
    where = exp.store.root if exp.store is not None else "store"
    return join("landscape", "cache", "ls", "--store", where) + f"  # entry {entry.key[:12]}"


def _kv(options: dict[str, Any]) -> list[str]:
    def value(v: Any) -> str:
        if isinstance(v, list | tuple):
            return ",".join(value(x) for x in v) + ("," if len(v) == 1 else "")
        return str(v).lower() if isinstance(v, bool) else str(v)

    return [f"{k}={value(v)}" for k, v in options.items()]


def train_command(run: Run) -> str:
    """The ``landscape train`` line that trains ``run`` again (from its ``config.json``).

    Written for one run into the experiment's folder; a run whose folder was renamed after
    training (e.g. the demo's second SGD seed, ``sgd_seed1``) would be written under the
    name ``landscape train`` gives it, which the line says.
    """
    c = run.config
    words: list[Any] = ["landscape", "train", "--model", c["model"]]
    if c.get("model_args"):
        words += ["--model-args", *_kv(c["model_args"])]
    words += ["--dataset", c["dataset"]]
    if c.get("dataset_args"):
        words += ["--dataset-args", *_kv(c["dataset_args"])]
    if c.get("data_root"):
        words += ["--data-root", c["data_root"]]
    if c.get("augment"):
        words += ["--augment", c["augment"]]
    words += ["--optimizer", c["optimizer"], "--lr", c["lr"]]
    opts = dict(c.get("optimizer_args") or {})
    for key in ("c", "mu", "momentum", "dampening", "eps"):
        if key in opts:
            words += [f"--{key}", opts.pop(key)]
    if opts.pop("nesterov", False):
        words.append("--nesterov")
    if "betas" in opts:
        words += ["--betas", *opts.pop("betas")]
    if opts:
        words += ["--optimizer-args", *_kv(opts)]
    for key, default in (("l2", 0.0), ("weight_decay", 0.0), ("schedule", "constant"),
                         ("epochs", 10), ("batch_size", 128), ("eval_batch_size", 1000),
                         ("seed", 0), ("dtype", "float32"), ("group_xi", 1e-6)):
        if c.get(key, default) != default:
            words += [f"--{key.replace('_', '-')}", c[key]]
    if c.get("schedule_args"):
        words += ["--schedule-args", *_kv(c["schedule_args"])]
    if c.get("prune"):
        words += ["--prune", c["prune"]]
        if c.get("prune_args"):
            words += ["--prune-args", *_kv(c["prune_args"])]
    words += ["--device", c.get("device") or "auto", "--out", run.path.parent]
    line = join(*words)
    named = c.get("run_name")
    if named and named != run.name:
        line += f"  # writes {named}/; this run's folder is {run.name}/"
    return line
