"""The verdict: did gRDA perform directional pruning (Chao et al. 2020)? Criterion by criterion.

Recomputed from the cached evidence by :func:`landscape.verify.judge` (comparisons with
thresholds only; see :mod:`landscape.report.evidence`), with each criterion's value, its
threshold and the store entry or run file the value comes from.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from landscape.report.blocks import Content, Missing, Section, Table, Text, Value
from landscape.report.context import Context, fmt
from landscape.report.provenance import join, store_flag
from landscape.report.sections import register


def _value(ctx: Context, ev: Any, row: dict[str, Any]) -> Value:
    text = fmt(row["value"])
    if row["name"] == "same_valley":
        return ctx.cite(ev.sources["connectivity"][0], text)
    if row["name"] == "flat_directions":
        entries = ev.sources["projection"]
        at = ev.report["projection"]["epochs"].index(ev.final_epoch)
        return ctx.cite(entries[at], text)
    return ctx.cite_run(ev.grda if row["name"] == "sparse" else ev.sgd, text)


def build(ctx: Context) -> Content | None:
    """A verdict table per gRDA run (and its barriers), or the command that gathers it."""
    exp = ctx.exp
    pairs = exp.pairs()
    if not pairs:
        return None
    blocks: list[Any] = [Text(
        "Each criterion compares a number from the store with a threshold (landscape "
        "verify's defaults unless the report was built with others: "
        + ", ".join(f"{k} = {v:g}" for k, v in asdict(ctx.thresholds).items())
        + "). The verdict is recomputed here from the cached evidence by the same judgement "
        "as `landscape verify` (comparisons only, nothing is computed).")]
    missing = []
    for sgd, grda, base in pairs:
        ev = ctx.evidence(sgd, grda, base)
        verdict = ev.verdict
        command = join("landscape", "verify", sgd.path, grda.path,
                       *(["--baseline-run", str(base.path)] if base else []), *store_flag(exp))
        if verdict is None:
            missing.append(Missing(f"evidence for {grda.name} vs {sgd.name}: "
                                   + "; ".join(ev.missing), command))
            continue
        rows = [[r["name"].replace("_", " "), r["description"], _value(ctx, ev, r),
                 f"{r['op']} {fmt(r['threshold'])}",
                 Value("pass" if r["passed"] else "FAIL",
                       status="pass" if r["passed"] else "fail"), r["finding"]]
                for r in verdict["criteria"]]
        word = "YES" if verdict["directional_pruning"] else "no"
        blocks.append(Table(
            ["criterion", "what is measured", "value", "threshold", "result", "finding"], rows,
            caption=f"{grda.name} against {sgd.name} at epoch {ev.final_epoch}: directional "
                    f"pruning {word}. {verdict['summary']}. Reproduce: {command}"))
        barriers = [["SGD - gRDA", ctx.cite(ev.sources["connectivity"][0],
                                            fmt(ev.report["connectivity"]["curve_barrier"])),
                     ctx.cite(ev.sources["connectivity"][0],
                              fmt(ev.report["connectivity"]["line_barrier"]))]]
        if ev.report.get("control"):
            c = ev.sources["control"][0]
            barriers.append(["SGD - SGD other seed (control)",
                             ctx.cite(c, fmt(ev.report["control"]["curve_barrier"])),
                             ctx.cite(c, fmt(ev.report["control"]["line_barrier"]))])
        blocks.append(Table(["train-loss barrier (nats)", "Bezier curve", "straight line"],
                            barriers, caption="Barriers of the fitted curve and the straight "
                            "line (Garipov et al. 2018); the control joins two SGD runs from "
                            "different seeds, showing the instrument sees a barrier where "
                            "there is one."))
    return Content(blocks=blocks, missing=missing)


SECTION = register(Section("verdict", "Verdict: directional pruning?", build))
