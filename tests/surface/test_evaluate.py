import copy

import numpy as np
import pytest
import torch
from surface_helpers import loss_tolerance, params_of, tiny_mlp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.data import EvalSet
from landscape.evaluation import evaluate_loss_error, evaluate_weights, recalibrate_bn
from landscape.surface import SurfaceDirections, SurfaceEvaluator, cross_entropy, random_directions

COORDS = [[0.0, 0.0], [0.3, -0.2], [-1.0, 0.5], [0.7, 0.9], [1.5, -1.5]]


def plain(model, params, train, bn="keep"):
    """The reference: one point, the model's own forward (our default loss, for exactness)."""
    if bn == "recalibrate":
        return evaluate_weights(model, params, train, loss_fn=cross_entropy)
    loss, error = evaluate_loss_error(model, params, train, loss_fn=cross_entropy)
    return {"train_loss": loss, "train_error": error}


def squared_error(outputs, targets):
    return ((outputs - targets) ** 2).sum(-1).mean()


def test_quadratic_model_surface_equals_the_closed_form():
    # f(x) = V x~ with x~ = [x, 1] and the per-sample loss ||V x~ - y||^2: the mean loss is
    # L(V) = tr(V S V^T) - 2 tr(V C) + s with S = mean x~ x~^T, C = mean x~ y^T, s = mean ||y||^2
    g = torch.Generator().manual_seed(0)
    x = torch.randn(70, 5, generator=g, dtype=torch.float64)
    y = torch.randn(70, 3, generator=g, dtype=torch.float64)
    model = nn.Linear(5, 3).double()
    params = params_of(model)
    dirs = random_directions(params, seed=1, norm="layer", include_bn_bias=True)
    xt = torch.cat([x, torch.ones(70, 1, dtype=torch.float64)], 1).numpy()
    s_mat, c_mat, s = xt.T @ xt / 70, xt.T @ y.numpy() / 70, float((y**2).sum(1).mean())

    def closed_form(coords):
        w = dirs.point(coords)
        v = torch.cat([w["weight"], w["bias"][:, None]], 1).numpy()
        return float(np.trace(v @ s_mat @ v.T) - 2 * np.trace(v @ c_mat) + s)

    data = EvalSet.from_tensors(x, y, batch_size=30)  # batches of 30, 30, 10
    for share in (True, False):
        ev = SurfaceEvaluator(model, dirs, data, loss_fn=squared_error, error_fn=None,
                              share_input_layer=share, points_per_pass=2)
        values = ev.evaluate(COORDS)["train_loss"]
        np.testing.assert_allclose(values, [closed_form(c) for c in COORDS], rtol=1e-10)
        assert ev.fields == ("train_loss",)
        assert ev.shared_layer == ("" if share else None)  # the model is the layer itself


def test_loop_evaluation_of_k_points_is_bitwise_one_at_a_time(tiny_sets, tiny_sets32):
    for dtype, (train, test) in ((torch.float64, tiny_sets), (torch.float32, tiny_sets32)):
        model = tiny_mlp(batchnorm=True, dtype=dtype)
        dirs = random_directions(params_of(model), seed=0, model=model)
        for bn in ("keep", "recalibrate"):
            together = SurfaceEvaluator(model, dirs, train, test, bn=bn, points_per_pass=5,
                                        share_input_layer=True)
            alone = SurfaceEvaluator(model, dirs, train, test, bn=bn, points_per_pass=1,
                                     share_input_layer=True)
            a, b = together.evaluate(COORDS), alone.evaluate(COORDS[::-1])
            assert together.shared_layer == "1"
            for field in together.fields:
                # exact: every point runs the same kernels on the same batches whichever
                # points share its pass (the input layer's products are per batch)
                assert np.array_equal(a[field], b[field][::-1]), (dtype, bn, field)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bn", ["keep", "recalibrate"])
def test_vmap_and_shared_layer_agree_with_the_plain_reference(tiny_data, dtype, bn):
    train = EvalSet(tiny_data, "train", batch_size=25, dtype=dtype)
    model = tiny_mlp(batchnorm=True, dtype=dtype)
    dirs = random_directions(params_of(model), seed=0, model=model)
    for strategy in ("loop", "vmap"):
        ev = SurfaceEvaluator(model, dirs, train, bn=bn, strategy=strategy, points_per_pass=3,
                              share_input_layer=True)
        got = ev.evaluate(COORDS)
        for i, c in enumerate(COORDS):
            point = dirs.point(c)
            ref = plain(model, point, train, bn)
            # not bitwise: vmap batches the products into other kernels and the shared input
            # layer sums 1 + ndim products; both stay within the rounding bound of the exact
            # forward (surface_helpers.logit_error_bound), so they differ by at most twice it
            at = model if bn == "keep" else with_stats(model, point, train)
            tol = loss_tolerance(at, point, train, shared=(c, dirs.vectors))
            assert abs(got["train_loss"][i] - ref["train_loss"]) <= tol
            assert tol < (1e-11 if dtype == torch.float64 else 1e-3)  # the bound is not vacuous
            # and the requirement for float32, 1e-6 relative (seen: < 5e-8)
            assert got["train_loss"][i] == pytest.approx(ref["train_loss"], rel=1e-6)
            # a sample flips only where its top two logits are within the bound (these
            # seeded data have none)
            assert got["train_error"][i] == ref["train_error"]


def with_stats(model, point, train):
    """A copy of the model holding the exact BatchNorm statistics of ``point``."""
    other = copy.deepcopy(model)
    for k, v in recalibrate_bn(model, point, train).items():
        other.get_buffer(k).copy_(v)
    return other


def test_keep_and_recalibrate_differ_and_recalibrate_matches_curves(tiny_sets):
    train, test = tiny_sets
    model = tiny_mlp(batchnorm=True)
    dirs = random_directions(params_of(model), seed=4, model=model)
    keep = SurfaceEvaluator(model, dirs, train, test, bn="keep").evaluate(COORDS[1:3])
    recal = SurfaceEvaluator(model, dirs, train, test, bn="recalibrate",
                             share_input_layer=False).evaluate(COORDS[1:3])
    assert np.all(np.abs(keep["train_loss"] - recal["train_loss"]) > 1e-3)
    for i, c in enumerate(COORDS[1:3]):
        ref = evaluate_weights(model, dirs.point(c), train, test, loss_fn=cross_entropy)
        for field in recal:
            # exact: the same statistics (recalibrate_bn), forward, loss and float64 sums
            assert recal[field][i] == ref[field]


def test_dataloader_input_and_memory_budget(tiny_data):
    x = tiny_data.normalize(tiny_data.train.images, dtype=torch.float64)
    loader = DataLoader(TensorDataset(x, tiny_data.train.labels), batch_size=16)
    model = tiny_mlp()
    dirs = random_directions(params_of(model), seed=0)
    point_bytes = sum(p.numel() * 8 for p in model.parameters())
    ev = SurfaceEvaluator(model, dirs, loader, memory_budget=3 * point_bytes)
    assert ev.points_per_pass == 3
    assert ev.shared_layer is None  # fan-in 8 < 16 * 2: not worth sharing ("auto")
    got = ev.evaluate(COORDS)
    ref = plain(model, dirs.point(COORDS[2]), EvalSet.from_tensors(
        x, tiny_data.train.labels, batch_size=16))
    assert got["train_loss"][2] == ref["train_loss"]  # exact: same kernels, same batches
    vm = SurfaceEvaluator(model, dirs, loader, memory_budget=3 * point_bytes, strategy="vmap")
    assert vm.points_per_pass < 3  # activations of the stacked points count too


def test_bad_settings_are_refused(tiny_sets):
    train, _ = tiny_sets
    model = tiny_mlp()
    dirs = random_directions(params_of(model), seed=0)
    with pytest.raises(ValueError, match="bn must be 'keep'"):
        SurfaceEvaluator(model, dirs, train, bn="train")
    with pytest.raises(ValueError, match="strategy must be one of"):
        SurfaceEvaluator(model, dirs, train, strategy="fast")
    with pytest.raises(ValueError, match="points_per_pass must be a positive integer"):
        SurfaceEvaluator(model, dirs, train, points_per_pass=0)
    with pytest.raises(TypeError, match="the mean loss over the batch"):
        SurfaceEvaluator(model, dirs, train, loss_fn=lambda z, y: (z - z).sum(-1)
                         ).evaluate([[0.0, 0.0]])
    with pytest.raises(ValueError, match="the train data are empty"):
        SurfaceEvaluator(model, dirs, [(torch.zeros(0, 8, dtype=torch.float64),
                                        torch.zeros(0, dtype=torch.long))] * 2
                         ).evaluate([[0.0, 0.0]])


def test_shared_layer_is_found_only_where_it_is_the_data_s_layer():
    model = nn.Sequential(nn.Linear(40, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()
    x = torch.randn(12, 40, dtype=torch.float64)
    data = [(x, torch.zeros(12, dtype=torch.long))]
    dirs = random_directions(params_of(model), seed=0)
    ev = SurfaceEvaluator(model, dirs, data)
    ev.evaluate([[0.1, 0.2]])
    assert ev.shared_layer == "0"  # fan-in 40 >= 32: shared by "auto"

    class Scaled(nn.Module):  # the first layer sees a function of a parameter, not the data
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(torch.ones(1, dtype=torch.float64))
            self.net = model

        def forward(self, inp):
            return self.net(inp * self.s)

    scaled = Scaled().eval()
    dirs2 = random_directions(params_of(scaled), seed=0, bn_bias=[])
    ev2 = SurfaceEvaluator(scaled, dirs2, data, share_input_layer=True)
    out = ev2.evaluate([[0.5, 0.5]])
    assert ev2.shared_layer is None
    ref = plain(scaled, dirs2.point([0.5, 0.5]), data)
    assert out["train_loss"][0] == ref["train_loss"]  # exact: nothing shared, same kernels


def test_directions_without_a_model_origin_names(tiny_sets):
    train, _ = tiny_sets
    model = tiny_mlp()
    params = params_of(model)
    d = {k: torch.ones_like(v, dtype=torch.float64) for k, v in params.items()}
    dirs = SurfaceDirections((d,), params, {"method": "ones"}, ("ones",))
    got = SurfaceEvaluator(model, dirs, train).evaluate([[0.0], [0.01]])
    ref = plain(model, params, train)
    assert got["train_loss"][0] == ref["train_loss"]  # exact: c = 0 is the origin, same path


def test_conv_nets_run_channels_last_equal_to_the_model_s_layout_up_to_rounding():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(6, 4, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 2 * 2, 3)).double().eval()
    with torch.no_grad():
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.5, 2.0)
    g = torch.Generator().manual_seed(1)
    data = EvalSet.from_tensors(torch.randn(20, 3, 8, 8, generator=g, dtype=torch.float64),
                                torch.randint(0, 3, (20,), generator=g), batch_size=8)
    dirs = random_directions(params_of(model), seed=0, model=model)
    fast = SurfaceEvaluator(model, dirs, data, points_per_pass=3)
    assert fast.channels_last  # "auto": the model has a Conv2d
    own = SurfaceEvaluator(model, dirs, data, channels_last=False, points_per_pass=3)
    coords = COORDS[:4]
    a, b = fast.evaluate(coords), own.evaluate(coords)
    for i, c in enumerate(coords):
        ref = plain(model, dirs.point(c), data)
        # exact: the model's own layout, nothing shared (fan-in 27 < 32), same kernels
        assert b["train_loss"][i] == ref["train_loss"]
    # float64 convolutions summed in another order by the channels-last kernels: rounding of
    # order fan-in (54) x 1e-16 relative per layer, far below 1e-12
    np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(a["train_error"], b["train_error"])
    with pytest.raises(ValueError, match="channels_last must be True, False or 'auto'"):
        SurfaceEvaluator(model, dirs, data, channels_last="yes")


def test_auto_max_batch_splits_only_batches_whose_activations_overflow_the_budget(
        tiny_sets, monkeypatch):
    import landscape.surface.evaluate as evaluate_mod
    from landscape.surface._shared import activation_bytes_per_sample

    train, test = tiny_sets
    model = tiny_mlp(batchnorm=True)
    dirs = random_directions(params_of(model), seed=0, model=model)
    assert SurfaceEvaluator(model, dirs, train).max_rows > 25  # 32 MiB: batches stay whole
    per_sample = activation_bytes_per_sample(model, dirs.origin, next(iter(train))[0][:2])
    monkeypatch.setattr(evaluate_mod, "_PIECE_BYTES", 7 * per_sample + 3)
    auto = SurfaceEvaluator(model, dirs, train, test, bn="recalibrate", points_per_pass=2)
    assert auto.max_rows == 7
    given = SurfaceEvaluator(model, dirs, train, test, bn="recalibrate", max_batch=7,
                             points_per_pass=3)
    whole = SurfaceEvaluator(model, dirs, train, test, bn="recalibrate", max_batch=None)
    assert given.max_rows == 7 and whole.max_rows is None
    a, b, c = (e.evaluate(COORDS) for e in (auto, given, whole))
    for field in a:
        np.testing.assert_array_equal(a[field], b[field])  # exact: the same pieces
        # pieces of 7 instead of batches of 25: float64 sums in another order (rounding)
        np.testing.assert_allclose(a[field], c[field], rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="max_batch must be a positive integer, 'auto' or"):
        SurfaceEvaluator(model, dirs, train, max_batch=0)
