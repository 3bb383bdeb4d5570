"""The runs: settings, final accuracy and sparsity, and which runs share a seed."""

from __future__ import annotations

from typing import Any

from landscape.report.blocks import Content, Section, Table, Text, Value
from landscape.report.context import Context, fmt
from landscape.report.provenance import train_command
from landscape.report.sections import register


def _setting(config: dict[str, Any]) -> str:
    opts = config.get("optimizer_args") or {}
    parts = [f"{k}={opts[k]:g}" if isinstance(opts[k], float) else f"{k}={opts[k]}"
             for k in sorted(opts)]
    if config.get("prune"):
        parts.append(f"prune={config['prune']} {config.get('prune_args') or ''}".strip())
    return ", ".join(parts) or "-"


def build(ctx: Context) -> Content:
    """One row per run; the shared-seed links; the command that trained each run."""
    exp = ctx.exp
    rows: list[list[Any]] = []
    for run in exp.runs:
        c, final = run.config, run.final or {}
        peers = [Value(o.name, o.anchor, f"also seed {o.seed}") for o in exp.runs
                 if o is not run and o.seed == run.seed]
        epochs = f"{run.final_epoch}/{c.get('epochs')}" + ("" if run.finished else
                                                           " (unfinished)")
        rows.append([
            Value(run.name, run.anchor, str(run.path)), c.get("optimizer", "-"),
            fmt(c.get("lr")), _setting(c), str(run.seed), epochs,
            f"{c.get('model', '-')} ({fmt(c.get('num_parameters'), ',')} parameters)"
            if c.get("num_parameters") else c.get("model", "-"),
            c.get("dataset", "-"), str(c.get("batch_size", "-")),
            ctx.cite_run(run, fmt(100 * final["test_acc"], ".2f") + "%") if final else "-",
            ctx.cite_run(run, fmt(100 * final["sparsity"]["global"], ".1f") + "%")
            if final else "-",
            peers or "-",
        ])
    table = Table(["run", "optimizer", "lr", "options", "seed", "epochs", "model", "data",
                   "batch", "test acc (final)", "exact zeros (final)", "same seed as"], rows,
                  caption="Test accuracy and the share of weights that are exactly zero at "
                          "each run's final epoch, read from its metrics.jsonl. Runs of the "
                          "same seed start from the same initialisation and see the same "
                          "minibatches (Chao et al. 2020, Sec. 4.3).",
                  anchors=[r.anchor for r in exp.runs])
    commands = Table(["run", "trained by"],
                     [[Value(r.name, r.anchor), Value(train_command(r), code=True)]
                      for r in exp.runs],
                     caption="The command that trains each run again (from its config.json).")
    intro = (f"{len(exp.runs)} run(s) in {exp.root}"
             + (f", {len(exp.curves)} fitted curve(s)" if exp.curves else "")
             + (f"; {len(exp.entries)} store entries computed from them in {exp.store.root}"
                if exp.store is not None else "; no result store beside them"))
    blocks: list[Any] = [table, commands]
    if exp.foreign:
        blocks.append(Text(f"The store also holds {exp.foreign} entries of other experiments "
                           "(not shown)."))
    return Content(intro=intro, blocks=blocks)


SECTION = register(Section("runs", "Runs", build))
