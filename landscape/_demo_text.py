"""The demo's terminal summary (private plumbing of :mod:`landscape.demo`)."""

from __future__ import annotations

from typing import Any

from landscape.verify.report import format_report

__all__ = ["format_demo", "format_verdict_table"]


def _pair_row(name: str, run: dict[str, Any], conn: dict[str, Any], share: float,
              random: float, baseline: float | None) -> str:
    vs_base = f"{share / baseline:>9.2f}" if baseline else f"{'-':>9}"
    return (f"{name:<22}{100 * run['test_acc']:>8.2f}%{100 * run['sparsity']:>8.1f}%"
            f"{conn['curve_barrier']:>8.3f}{conn['line_barrier']:>7.3f}"
            f"{share:>11.2e}{share / random:>7.2f}{vs_base}")


def _threshold_text(name: str, t: dict[str, float], baseline: bool) -> str:
    return {
        "same_valley": f"curve barrier <= {t['max_barrier']:g}",
        "flat_directions": f"share <= {t['max_share_random']:g} k/P"
                           + (f", {t['max_share_baseline']:g}x SGD" if baseline else ""),
        "sparse": f"zeros >= {t['min_sparsity']:g}",
        "comparable_accuracy": f"acc drop <= {t['max_accuracy_drop']:g}",
    }.get(name, name)


def _cell(row: dict[str, Any]) -> str:
    if not row["passed"]:
        return "FAIL"
    if row["name"] == "same_valley":
        return "pass (line)" if row.get("linear") else "pass (curve)"
    return "pass"


def format_verdict_table(reports: dict[str, Any]) -> list[str]:
    """Criteria as rows, ``mu`` as columns: pass/FAIL (and whether the line is flat too)."""
    first = next(iter(reports.values()))
    baseline = bool(first["projection"]["baseline_share"])
    t = first["verdict"]["thresholds"]
    lines = [f"{'criterion':<21}{'threshold':<29}"
             + "".join(f"{'mu=' + mu:>14}" for mu in reports)]
    for i, row in enumerate(first["verdict"]["criteria"]):
        cells = "".join(f"{_cell(r['verdict']['criteria'][i]):>14}" for r in reports.values())
        lines.append(f"{row['name']:<21}{_threshold_text(row['name'], t, baseline):<29}{cells}")
    lines.append(f"{'directional pruning':<50}" + "".join(
        f"{'YES' if r['verdict']['directional_pruning'] else 'no':>14}"
        for r in reports.values()))
    return lines


def _minima_line(s: dict[str, Any]) -> str:
    """Where the gRDA minimum sits in the minima plane (Chao et al. 2020), in one line."""
    there = f"{s['grda_loss']:.4g}" if s["grda_loss"] is not None else "(off the grid)"
    return (f"Minima plane (mu={s['mu']}): gRDA at (1, 0) in units of ||w_gRDA - w_SGD|| = "
            f"{s['delta_norm']:.4g}, train loss {there} vs {s['sgd_loss']:.4g} at SGD; the top "
            f"eigenvector is {'sharper' if s['sharper_eigenvector'] else 'not sharper'} than "
            f"SGD->gRDA (curvature {s['curvature_eigenvector']:.3g} vs "
            f"{s['curvature_delta']:.3g})")


def _curvature_line(c: dict[str, Any]) -> str:
    """lambda_max from the first to the last epoch of each run, and along the curve."""
    runs = "; ".join(
        f"{label} {r['lambda_max'][0]:.3g} -> {r['lambda_max'][-1]:.3g}"
        + (f" (2/lr limit {r['stability_limit'][-1]:.3g})" if r["stability_limit"][-1] else "")
        for label, r in c.items() if label != "along")
    a = c["along"]
    return (f"Sharpness lambda_max over training (Cohen et al. 2021): {runs}; along the "
            f"curve max {a['curve']:.3g} (line {a['line']:.3g}, minima {a['ends']:.3g})")


def format_demo(result: dict[str, Any]) -> str:
    """Terminal summary: the pairs with the control, the verdict table, the last report."""
    reports = result["reports"]
    first = next(iter(reports.values()))
    p = first["projection"]
    k = p["top_k"]
    lines = ["", "=" * 86,
             f"Directional pruning on {result['dataset']}: SGD vs gRDA, one seed, one "
             "minibatch sequence", "=" * 86,
             f"{'':<22}{'test acc':>9}{'zeros':>9}{'barrier (nats)':>15}"
             f"{f'share in top-{k} eigenspace':>27}",
             f"{'pair':<22}{'':>18}{'curve':>8}{'line':>7}{'share':>11}{'x k/P':>7}"
             f"{'x SGD':>9}"]
    control = first.get("control")
    if control and p["baseline_share"]:
        base = p["baseline_share"][-1]
        lines.append(_pair_row("SGD seeds (control)", first["runs"]["baseline"], control, base,
                               p["random_expected"], None))
    for mu, r in reports.items():
        pr = r["projection"]
        at = pr["epochs"].index(r["final_epoch"])
        lines.append(_pair_row(f"SGD - gRDA mu={mu}", r["runs"]["grda"], r["connectivity"],
                               pr["share"][at], pr["random_expected"],
                               pr["baseline_share"][at] if pr["baseline_share"] else None))
    sgd = first["runs"]["sgd"]
    lines += [f"(SGD itself: test acc {100 * sgd['test_acc']:.2f}%, "
              f"{100 * sgd['sparsity']:.1f}% zeros; the control row shows the second SGD seed)",
              "", *format_verdict_table(reports)]
    last = list(reports)[-1]
    lines += ["", f"Full report for mu={last}:", "", format_report(reports[last]), ""]
    for label, table in result["features"].items():
        lines += [f"Feature sparsity ({label}):", table, ""]
    lines += [f"Hessian trace at the SGD minimum (Hutchinson): {result['spectrum']['trace']:.4g}"]
    if result.get("surfaces"):
        lines.append(_minima_line(result["surfaces"]))
    if result.get("curvature"):
        lines.append(_curvature_line(result["curvature"]))
    lines += ["", "Figures:"] + [f"  {f}" for f in result["figures"]]
    if result.get("report"):
        lines += ["", f"Report (open in a browser): {result['report']}"]
    lines.append(f"\ndone in {result['seconds']:.1f} s")
    return "\n".join(lines)
