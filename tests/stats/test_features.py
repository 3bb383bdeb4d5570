"""Feature statistics on hand-built networks with known dead units and activation patterns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stats_helpers import known_data, known_mlp

from landscape.data import EvalSet
from landscape.models import create_model
from landscape.stats import (
    class_specialisation,
    feature_statistics,
    feature_summary,
    format_sparsity_table,
    sparsity_rows,
    universality,
)


def test_known_mlp_gives_exact_statistics():
    data = known_data()
    st = feature_statistics(known_mlp(), data, num_classes=2)
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
    # shares are fractions (exact: 1 / 4 is a binary fraction)
    assert (s["dead_activation_fraction"], s["zero_weights_fraction"]) == (0.25, 0.25)
    assert math.isnan(s["dead_scale_fraction"]) and not any(k.startswith("pct") for k in s)


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
    assert rows[0]["dead_scale_fraction"] == pytest.approx(2 / 6)
    assert rows[-1]["dead_scale_fraction"] == pytest.approx(3 / 11)
    assert st["summary"]["dead_scale_fraction"] == pytest.approx(3 / 11)
    assert 0 <= rows[0]["mean_universality_pct"] <= 100
    text = format_sparsity_table(st)
    assert "% by gamma" in text and "33.3" in text  # percent only in the printed table


def test_universality_and_specialisation_functions():
    pooled = torch.tensor([[0.0, 2.0], [0.0, 1e-3], [0.0, 3e-3]])
    torch.testing.assert_close(universality(pooled), torch.tensor([0.0, 100 * 2 / 3],
                                                                  dtype=torch.float64))
    spec = class_specialisation(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    assert spec[0] == pytest.approx(0.25) and math.isnan(spec[1])


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"\[N, F\]"):
        universality(torch.zeros(3))
    with pytest.raises(ValueError, match=r"\[C, F\]"):
        class_specialisation(torch.zeros(3))


def test_the_summary_counts_and_fractions_from_per_layer_arrays():
    layers = {"a": {"num_features": 3, "dead_activation": np.array([True, False, False]),
                    "dead_scale": np.array([True, True, False])},
              "b": {"num_features": 1, "dead_activation": np.array([True]),
                    "zero_weights": np.array([False])}}
    s = feature_summary(layers)
    assert (s["features"], s["dead_activation"], s["dead_scale"], s["zero_weights"]) == (
        4, 2, 2, 0)
    assert s["dead_activation_fraction"] == 0.5  # exact: 2 / 4
    assert s["dead_scale_fraction"] == pytest.approx(2 / 3)
    assert s["zero_weights_fraction"] == 0.0
