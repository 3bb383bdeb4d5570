"""Feature statistics on hand-built networks with known dead units and activation patterns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.data import EvalSet
from landscape.models import create_model
from landscape.stats import (
    class_specialisation,
    feature_pass,
    feature_statistics,
    format_sparsity_table,
    sparsity_rows,
    universality,
)
from landscape.stats._hooks import find_sites


def _partition_tol(depth: int, dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """Tolerance for activations computed with different batch partitions or kernels.

    A matrix product may sum each dot product in another order for another number of rows
    (blocked kernels, threads), so two passes agree only to rounding: for a dot product of
    length k, |error| <= k * eps * sum_i |w_i x_i| (Higham 2002, eq. 3.5). ``depth`` is the
    total length of the reductions along the path to the activation; the activations here are
    O(1), so the bound is used as both relative and absolute tolerance, with a factor 4 for the
    bias additions and the residual sum.
    """
    tol = 4 * depth * torch.finfo(dtype).eps
    return {"rtol": tol, "atol": tol}


def _known_mlp() -> nn.Sequential:
    """Four units on inputs (x0, x1) in [0, 1]^2 with class = [x0 > 0.5].

    unit 0: relu(x0)            active on every sample with x0 > 0
    unit 1: relu(-x0 - x1 - 10) never active (dead by activation)
    unit 2: relu(x0 - 0.5)      active only on class-1 samples (fully class-specialised)
    unit 3: relu(1)             constant 1 (zero incoming weights, bias 1): not dead
    """
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, -1.0], [1.0, 0.0], [0.0, 0.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -10.0, -0.5, 1.0]))
    return net


def _known_data(batch_size: int = 3) -> EvalSet:
    x = torch.tensor(
        [[0.0, 0.2], [0.25, 0.9], [0.5, 0.1], [0.75, 0.3], [1.0, 0.0], [0.9, 0.4], [0.1, 0.7]],
        dtype=torch.float64,
    )
    y = (x[:, 0] > 0.5).long()
    return EvalSet.from_tensors(x, y, batch_size=batch_size)


def test_known_mlp_gives_exact_statistics():
    data = _known_data()
    st = feature_statistics(_known_mlp(), data, num_classes=2)
    e = st["layers"]["1"]
    x0 = data.x[:, 0].numpy()
    assert e["weight_layer"] == "0" and e["batchnorm"] == ""
    np.testing.assert_array_equal(e["pooled_max"], [1.0, 0.0, 0.5, 1.0])
    assert e["dead_activation"].tolist() == [False, True, False, False]
    # universality: % of samples with pooled / max > 1e-3
    expected_u0 = 100.0 * np.mean(x0 > 1e-3)
    expected_u2 = 100.0 * np.mean(x0 - 0.5 > 0.5e-3)
    np.testing.assert_allclose(e["universality"], [expected_u0, 0.0, expected_u2, 100.0])
    np.testing.assert_allclose(e["selectivity"], 100.0 - e["universality"])
    # class mass and specialisation
    cls = data.y.numpy()
    mass0 = [x0[cls == 0].sum(), x0[cls == 1].sum()]
    np.testing.assert_allclose(e["class_mass"][:, 0], mass0)
    np.testing.assert_allclose(e["class_mass"][:, 3], [np.sum(cls == 0), np.sum(cls == 1)])
    spec = e["specialisation"]
    assert spec[2] == 1.0 and math.isnan(spec[1]) and e["silent"] == 1
    np.testing.assert_allclose(spec[3], max(np.mean(cls == 0), np.mean(cls == 1)))
    assert e["weight_norm"][3] == 0.0 and e["zero_weights"].tolist() == [False, False, False, True]
    # NaN specialisation is excluded from the histogram; every universality is counted
    assert e["specialisation_hist"].sum() == 3 and e["universality_hist"].sum() == 4
    assert e["universality_hist"][0] == 1  # the dead unit sits at 0% universality
    s = st["summary"]
    assert (s["features"], s["dead_activation"], s["zero_weights"]) == (4, 1, 1)
    assert math.isnan(s["pct_dead_scale"])


def test_batching_does_not_change_the_statistics():
    a = feature_pass(_known_mlp(), _known_data(batch_size=2), num_classes=2)
    b = feature_pass(_known_mlp(), _known_data(batch_size=7), num_classes=2)
    # batches of 2 and of 7 rows: one Linear(2, 4) deep, reductions of length 2
    torch.testing.assert_close(a.pooled["1"], b.pooled["1"], **_partition_tol(2))
    # class mass sums up to 7 such values per class: 7 more additions
    torch.testing.assert_close(a.class_mass["1"], b.class_mass["1"], **_partition_tol(2 + 7))


def test_conv_pooling_matches_a_naive_reference():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    net = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
    net = net.double()
    x = torch.randn(10, 2, 5, 5, dtype=torch.float64)
    y = torch.arange(10) % 4
    fp = feature_pass(net, EvalSet.from_tensors(x, y, batch_size=4), num_classes=4)
    with torch.no_grad():
        act = torch.relu(conv(x))  # [N, C, H, W]: the slow, obviously-right reference
    # batches of 4 vs one batch of 10: a 3x3 convolution over 2 channels (18 products)
    torch.testing.assert_close(fp.pooled["1"], act.abs().amax(dim=(2, 3)), **_partition_tol(18))
    mass = torch.zeros(4, 3, dtype=torch.float64)
    for s in range(10):
        mass[y[s]] += act[s].abs().sum(dim=(1, 2))
    # per-sample sums of 25 positions, then up to 3 samples per class
    torch.testing.assert_close(fp.class_mass["1"], mass, **_partition_tol(18 + 25 + 3))
    assert fp.sites[0].spatial and fp.sites[0].weight_layer == "0"


def test_batchnorm_scale_test_and_names():
    net = create_model("mlp", widths=[6, 5], batchnorm=True, input_shape=(1, 2, 2), seed=0)
    with torch.no_grad():
        net.hidden[0][1].weight[[1, 4]] = 0.0
        net.hidden[1][1].weight[2] = 5e-4
        net.hidden[1][1].weight[3] = -2e-3
    x = torch.randn(12, 1, 2, 2)
    st = feature_statistics(net, EvalSet.from_tensors(x, torch.arange(12) % 10, batch_size=5),
                            num_classes=10)
    e0, e1 = st["layers"]["hidden.0.2"], st["layers"]["hidden.1.2"]
    assert (e0["batchnorm"], e0["weight_layer"]) == ("hidden.0.1", "hidden.0.0")
    assert e0["dead_scale"].tolist() == [False, True, False, False, True, False]
    assert e1["dead_scale"].tolist() == [False, False, True, False, False]
    assert st["summary"]["dead_scale"] == 3 and st["summary"]["features_with_batchnorm"] == 11
    rows = sparsity_rows(st)
    assert [r["layer"] for r in rows] == ["hidden.0.2", "hidden.1.2", "total"]
    assert rows[0]["pct_gamma"] == pytest.approx(100 * 2 / 6)
    assert "% by gamma" in format_sparsity_table(st)


class _Reuse(nn.Module):
    """One ReLU module called three times, the last after a residual addition."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.b = nn.Linear(4, 4)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h = self.relu(self.bn(self.a(x)))
        o = self.b(h)
        o += h
        return self.out(self.relu(o)) + self.relu(self.a(x)).sum(1, keepdim=True)


def test_reused_relu_module_gives_one_site_per_call():
    torch.manual_seed(1)
    net = _Reuse().double().eval()
    sites = find_sites(net, torch.randn(2, 3, dtype=torch.float64))
    assert [s.name for s in sites] == ["relu@0", "relu@1", "relu@2"]
    assert [(s.batchnorm, s.weight_layer) for s in sites] == [
        ("bn", "a"), (None, None), (None, "a")  # in-place residual add: no producer
    ]
    x = torch.randn(9, 3, dtype=torch.float64)
    fp = feature_pass(net, EvalSet.from_tensors(x, torch.zeros(9, dtype=torch.long),
                                                batch_size=4))
    with torch.no_grad():
        h = torch.relu(net.bn(net.a(x)))
        r = torch.relu(net.b(h) + h)
    # the pass runs batches of 4, the reference one batch of 9: equal only to rounding.
    # relu@0: Linear(3, 4) then BatchNorm; relu@1 adds Linear(4, 4) and the residual sum.
    torch.testing.assert_close(fp.pooled["relu@0"], h, **_partition_tol(3 + 1))
    torch.testing.assert_close(fp.pooled["relu@1"], r, **_partition_tol(3 + 1 + 4 + 1))
    torch.testing.assert_close(fp.pooled["relu@2"], torch.relu(net.a(x)).detach(),
                               **_partition_tol(3))


def test_residual_models_are_handled():
    torch.manual_seed(0)
    wrn = create_model("wrn", depth=10, width=1, input_shape=(3, 16, 16), seed=0)
    data = EvalSet.from_tensors(torch.randn(6, 3, 16, 16), torch.arange(6) % 10, batch_size=4)
    st = feature_statistics(wrn, data, num_classes=10)
    assert len(st["order"]) == 7 and st["layers"]["relu"]["batchnorm"] == "bn"
    assert st["layers"]["stages.0.0.relu2"]["weight_layer"] == "stages.0.0.conv1"
    assert wrn.training  # the pass restores the mode
    r50 = create_model("resnet50", input_shape=(3, 32, 32), seed=0)
    sites = find_sites(r50, torch.randn(2, 3, 32, 32))
    assert len(sites) == 1 + 16 * 3
    assert sum(s.batchnorm is None for s in sites) == 16  # the ReLU after each residual add


def test_universality_and_specialisation_functions():
    pooled = torch.tensor([[0.0, 2.0], [0.0, 1e-3], [0.0, 3e-3]])
    torch.testing.assert_close(universality(pooled), torch.tensor([0.0, 100 * 2 / 3],
                                                                  dtype=torch.float64))
    spec = class_specialisation(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    assert spec[0] == pytest.approx(0.25) and math.isnan(spec[1])


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no nn.ReLU module"):
        feature_pass(nn.Sequential(nn.Linear(2, 2), nn.Tanh()),
                     EvalSet.from_tensors(torch.zeros(2, 2), torch.zeros(2).long(), batch_size=2))
    with pytest.raises(ValueError, match="labels must lie in"):
        feature_pass(_known_mlp(), _known_data(), num_classes=1)
    with pytest.raises(ValueError, match=r"\[N, F\]"):
        universality(torch.zeros(3))


def test_streamed_pass_resumes_and_statistics_are_cached(tmp_path):
    from landscape.stats._featurestore import PASS_NAME, stored_feature_pass
    from landscape.store import Store

    store, net, data = Store(tmp_path / "store"), _known_mlp(), _known_data(batch_size=3)
    inputs = {"checkpoint": "0" * 64}
    # A pass killed after its first batch: batch 0 is in the partial (marked here by 7.0).
    part = store.partial(PASS_NAME, {"num_classes": 2, "batch_size": 3, "sites": ["1"]}, inputs,
                         dataset=data.spec(), fields={"pooled.1": ((3, 3, 4), "float64"),
                                                      "mass.1": ((3, 2, 4), "float64")},
                         grid=(3,))
    part.write((0,), **{"pooled.1": np.full((3, 4), 7.0), "mass.1": np.zeros((2, 4))})
    fp = stored_feature_pass(store, net, data, inputs=inputs, num_classes=2)
    assert (fp.pooled["1"][:3] == 7.0).all()  # batch 0 was not recomputed
    ref = feature_pass(net, data, num_classes=2)
    # the same batches of 3 through the same kernels in both passes
    assert torch.equal(fp.pooled["1"][3:], ref.pooled["1"][3:])  # exact: same computation


def test_cli_features_json_reduce_and_cache(tmp_path, capsys):
    import json

    from landscape.checkpoint import save_checkpoint
    from landscape.cli import main

    kwargs = {"num_classes": 3, "input_shape": [1, 4, 4], "widths": [6], "batchnorm": True}
    model = create_model("mlp", seed=0, **kwargs)
    with torch.no_grad():
        model.hidden[0][1].weight[:2] = 0.0
        model.hidden[0][1].bias[:2] = -1.0
    cfg = {"dataset": "synthetic", "dataset_args": {"input_shape": [1, 4, 4], "num_train": 40}}
    ckpt = save_checkpoint(tmp_path / "run" / "epoch_0001.pt", model, model_name="mlp",
                           model_kwargs=kwargs, epoch=1, config=cfg)
    argv = ["features", str(ckpt), "--json", "--reduce", "--batch-size", "16", "--device", "cpu",
            "--figures", str(tmp_path / "figs")]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cached"] is False and out["summary"]["dead_scale"] >= 2
    assert out["reduction"]["removed"]["hidden.0.0"] >= 2
    assert out["reduction"]["max_abs_diff"] < 1e-5 and len(out["figures"]) == 4
    assert (tmp_path / "store").is_dir()  # the default store: next to the run directory
    assert main([*argv[:2], "--batch-size", "16", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "(cached" in text and "% by gamma" in text
    assert main(["features", str(tmp_path / "missing")]) == 2
