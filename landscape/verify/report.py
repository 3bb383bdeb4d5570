"""The terminal text of a verify report (percentages appear here only, never in the JSON)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_barriers", "format_criteria", "format_report"]


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def format_barriers(report: dict[str, Any]) -> list[str]:
    """Barrier table: the SGD-gRDA pair and, when present, the SGD-vs-SGD control."""
    rows = [("SGD - gRDA", report["connectivity"])]
    control = report.get("control")
    if control:
        rows.append(("SGD - SGD other seed (control)", control))
    lines = [f"{'train-loss barrier (nats)':<34}{'Bezier curve':>14}{'straight line':>15}"]
    lines += [f"  {name:<32}{c['curve_barrier']:>14.4f}{c['line_barrier']:>15.4f}"
              for name, c in rows]
    limit = report.get("verdict", {}).get("thresholds", {}).get("max_barrier")
    if control and limit is not None and control["line_barrier"] <= limit:
        lines.append("  note: the straight line between two SGD seeds is flat too, so a flat "
                     "line does not tell valleys apart here")
    return lines


def format_criteria(verdict: dict[str, Any]) -> list[str]:
    """One line per criterion (value, comparison, threshold) and one with its finding."""
    lines = []
    for row in verdict["criteria"]:
        mark = "pass" if row["passed"] else "FAIL"
        lines.append(f"  [{mark}] {row['name']:<20} {row['value']:.4g} (needs {row['op']} "
                     f"{row['threshold']:.4g}): {row['description']}")
        lines.append(f"         {row['finding']}")
    return lines


def _projection(p: dict[str, Any], final_epoch: Any) -> list[str]:
    lines = [f"share of w_gRDA - w_SGD in the top-{p['top_k']} eigenspace at w_SGD "
             f"(random direction: k/P = {p['random_expected']:.2e}):",
             f"{'epoch':>7}{'share':>12}{'random':>12}"
             + (f"{'SGD seeds':>12}" if p["baseline_share"] else "")]
    for i, e in enumerate(p["epochs"]):
        row = f"{e:>7}{p['share'][i]:>12.4e}{p['random_share'][i]:>12.4e}"
        if p["baseline_share"]:
            row += f"{p['baseline_share'][i]:>12.4e}"
        lines.append(row)
    at = p["epochs"].index(final_epoch) if final_epoch in p["epochs"] else -1
    final = p["share"][at]
    rel = f"{final / p['random_expected']:.3g}x k/P"
    if p["baseline_share"]:
        rel += f", {final / p['baseline_share'][at]:.3g}x the SGD-vs-SGD share"
    lines.append(f"final-epoch share {final:.3e} = {rel}")
    return lines


def _subspace_lines(k: dict[str, Any]) -> list[str]:
    """The overlap of the two minima's eigenspaces and lambda_max along the curve."""
    lines = []
    if "minima_overlap" in k:
        angles = ", ".join(f"{a:.3g}" for a in k["minima_angles"])
        lines.append(f"overlap of the top-{k['top_k']} eigenspaces at SGD and gRDA: "
                     f"{k['minima_overlap']:.4f} (random k/P = {k['overlap_random']:.2e}); "
                     f"principal angles (rad): {angles}")
    along = k.get("along_curve")
    if along:
        lines.append(f"lambda_max along the curve ({len(along['t'])} points, BatchNorm "
                     f"recalibrated): max {along['curve_lambda_max_max']:.4g}, at the minima "
                     f"{along['ends_lambda_max']:.4g}; along the line: max "
                     f"{along['line_lambda_max_max']:.4g}")
    return lines


def format_report(report: dict[str, Any]) -> str:
    """A terminal report of :func:`landscape.verify.verify`'s result."""
    r, p, k = report["runs"], report["projection"], report["curvature"]
    lines = [f"Directional pruning report (final epoch {report.get('final_epoch', '?')})", "",
             f"{'':<10}{'test acc':>10}{'train loss':>12}{'sparsity':>10}{'unit sparsity':>15}"]
    for role in ("sgd", "grda", "baseline"):
        if role in r:
            m = r[role]
            lines.append(f"{role:<10}{_pct(m['test_acc']):>10}{m['train_loss']:>12.4f}"
                         f"{_pct(m['sparsity']):>10}{_pct(m['group_sparsity']):>15}")
    lines += ["", *format_barriers(report), "", *_projection(p, report.get("final_epoch"))]
    fmt = ", ".join
    lines += ["", f"top-{k['top_k']} eigenvalues at SGD:  "
              + fmt(f"{v:.3g}" for v in k["sgd_eigenvalues"]),
              f"top-{k['top_k']} eigenvalues at gRDA: "
              + fmt(f"{v:.3g}" for v in k["grda_eigenvalues"])]
    lines += _subspace_lines(k)
    unconverged = [f"{role} ({k[role + '_converged']}/{k['top_k']})" for role in ("sgd", "grda")
                   if k.get(role + "_converged", k["top_k"]) < k["top_k"]]
    unconverged += [f"projection epoch {e} ({c}/{p['top_k']})"
                    for e, c in zip(p["epochs"], p.get("converged", [])) if c < p["top_k"]]
    if unconverged:
        lines.append("warning: not every eigenpair reached the residual tolerance: "
                     + ", ".join(unconverged))
    lines += ["", "criteria:", *format_criteria(report["verdict"]),
              "", "verdict: " + report["verdict"]["summary"]]
    return "\n".join(lines)
