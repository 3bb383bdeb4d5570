"""verify reports the overlap of the two minima's eigenspaces and lambda_max along the curve."""

from __future__ import annotations

import json

import pytest
import torch

from landscape.cli import main
from landscape.curvature import subspace_overlap
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.subject import DataOptions, resolve_subject
from landscape.store import Store
from landscape.verify import default_curve_dir, format_report
from landscape.verify.evidence import CURVE_HESSIAN


def test_verify_reports_minima_overlap_and_lambda_max_along_the_curve(tiny_demo, capsys):
    root, result = tiny_demo
    report = result["reports"]["0.6"]
    k = report["curvature"]
    store = Store(root / "out" / "store")
    tops = [hessian_topk(store, resolve_subject(report["runs"][role]["checkpoint"],
                                                data=DataOptions()), k=3)
            for role in ("sgd", "grda")]
    assert all(t.cached for t in tops)
    vectors = [torch.as_tensor(t["eigenvectors"]) for t in tops]
    assert k["minima_overlap"] == pytest.approx(subspace_overlap(*vectors), rel=1e-12)
    assert len(k["minima_angles"]) == 3 and all(0 <= a <= 1.5708 for a in k["minima_angles"])
    assert k["overlap_random"] == pytest.approx(3 / vectors[0].shape[1])
    along = k["along_curve"]
    assert len(along["t"]) == CURVE_HESSIAN["points"] == len(along["line_lambda_max"])
    assert along["curve_lambda_max_max"] == max(along["curve_lambda_max"])
    assert along["curve_lambda_max"][0] == along["line_lambda_max"][0]  # exact: one point
    # t = 0 is SGD's minimum (no BatchNorm here): its lambda_1, both to the tolerance 1e-3
    assert along["curve_lambda_max"][0] == pytest.approx(k["sgd_eigenvalues"][0], rel=2.5e-3)
    assert along["curve_lambda_max"][-1] == pytest.approx(k["grda_eigenvalues"][0], rel=2.5e-3)
    text = format_report(report)
    assert "overlap of the top-3 eigenspaces at SGD and gRDA" in text
    assert "lambda_max along the curve (11 points" in text
    # `landscape curve hessian` with verify's settings answers from the same entry
    curve = default_curve_dir(result["runs"]["sgd"], result["runs"]["grda_mu0.6"])
    assert main(["curve", "hessian", str(curve), "--points", str(CURVE_HESSIAN["points"]),
                 "--top-k", str(CURVE_HESSIAN["k"]), "--trace-probes", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["computed"] == 0 and out["key"] == along["key"]
    assert out["curve"]["lambda_max"] == along["curve_lambda_max"]  # exact: the same entry
