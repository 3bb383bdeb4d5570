"""At a glance: each gRDA run against SGD of its seed, the verdict, and what is missing."""

from __future__ import annotations

from typing import Any

from landscape.report.blocks import Content, Section, Table, Value
from landscape.report.context import Context, fmt
from landscape.report.sections import register


def build(ctx: Context) -> Content | None:
    """One row per SGD/gRDA pair: accuracies, sparsity, barrier, share, verdict."""
    pairs = ctx.exp.pairs()
    if not pairs:
        return None
    rows: list[list[Any]] = []
    for sgd, grda, base in pairs:
        ev = ctx.evidence(sgd, grda, base)
        acc = [ctx.cite_run(r, fmt(100 * r.final["test_acc"], ".2f") + "%") if r.final else "-"
               for r in (sgd, grda)]
        zeros = (ctx.cite_run(grda, fmt(100 * grda.final["sparsity"]["global"], ".1f") + "%")
                 if grda.final else "-")
        conn = ev.report.get("connectivity")
        barrier = (ctx.cite(ev.sources["connectivity"][0], fmt(conn["curve_barrier"], ".3g"))
                   if conn else "-")
        proj = ev.report.get("projection")
        share: Any = "-"
        if proj and ev.final_epoch in proj["epochs"]:
            at = proj["epochs"].index(ev.final_epoch)
            share = ctx.cite(ev.sources["projection"][at],
                             fmt(proj["share"][at] / proj["random_expected"], ".3g") + " x k/P")
        verdict = ev.verdict
        word = (Value("YES" if verdict["directional_pruning"] else "no",
                      status="pass" if verdict["directional_pruning"] else "fail")
                if verdict else Value("evidence missing"))
        rows.append([Value(grda.name, grda.anchor), Value(sgd.name, sgd.anchor), *acc, zeros,
                     barrier, share, word])
    table = Table(["gRDA run", "SGD run (same seed)", "SGD test acc", "gRDA test acc",
                   "gRDA zeros", "curve barrier (nats)", "share in top-k", "directional "
                   "pruning?"], rows,
                  caption="Directional pruning (Chao et al. 2020): a sparse gRDA minimum in "
                          "SGD's valley that differs from it mainly along flat directions. "
                          "Details and thresholds in the Verdict section; every number links "
                          "to its source.")
    return Content(blocks=[table])


SECTION = register(Section("overview", "At a glance", build))
