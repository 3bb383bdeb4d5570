import pytest
import torch
import torch.nn.functional as F
from curvature_helpers import make_batches, make_mlp
from torch import nn

from landscape.curvature import HessianOperator
from landscape.data import EvalSet
from landscape.testing.hessian import dense_hessian

RTOL, ATOL = 1e-5, 1e-8


@pytest.mark.parametrize("method", ["cached", "reverse", "forward"])
@pytest.mark.parametrize("block", ["vmap", "loop"])
@pytest.mark.parametrize("rewrite", [True, False])
def test_products_match_dense_hessian(problem, method, block, rewrite):
    model, batches = problem
    H = dense_hessian(model, batches)
    op = HessianOperator(model, batches, method=method, block=block, rewrite=rewrite)
    g = torch.Generator().manual_seed(0)
    v = torch.randn(op.dim, generator=g, dtype=torch.float64)
    M = torch.randn(op.dim, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(op @ v, H @ v, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(op @ M, H @ M, rtol=RTOL, atol=ATOL)
    as_list = op @ op.unflatten(v)
    assert isinstance(as_list, list) and [t.shape for t in as_list] == op.shapes
    torch.testing.assert_close(op.flatten(as_list), H @ v, rtol=RTOL, atol=ATOL)
    assert op.num_products == 1 + 4 + 1


def test_uneven_batches_weighted_exactly():
    # The same 8 samples split 5 + 3, 1 + 7 and 8 give one Hessian: weights |b| / N.
    model = make_mlp()
    (x1, y1), (x2, y2) = make_batches((4,))
    x, y = torch.cat([x1, x2]), torch.cat([y1, y2])
    ref = dense_hessian(model, [(x, y)])
    eye = torch.eye(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    for bs in (1, 3, 5, 8):
        op = HessianOperator(model, EvalSet.from_tensors(x, y, batch_size=bs))
        torch.testing.assert_close(op @ eye, ref, rtol=RTOL, atol=ATOL)


def test_parameter_subset_is_the_dense_sub_block():
    model, batches = make_mlp(), make_batches((4,))
    names = [n for n, _ in model.named_parameters()]
    full = dense_hessian(model, batches)
    op = HessianOperator(model, batches, params=["0", "3.weight"])
    assert op.names == ["0.weight", "0.bias", "3.weight"]
    sizes = [p.numel() for p in model.parameters()]
    offsets = torch.tensor([0, *sizes]).cumsum(0)
    idx = torch.cat([torch.arange(offsets[i], offsets[i + 1])
                     for i, n in enumerate(names) if n in op.names])
    torch.testing.assert_close(op.to_dense(), full[idx][:, idx], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(
        op.to_dense(), dense_hessian(model, batches, params=op.names), rtol=RTOL, atol=ATOL
    )


def test_point_overrides_model_values_and_model_is_untouched():
    model, batches = make_mlp(), make_batches((4,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    point = {n: p.detach() + 0.1 for n, p in model.named_parameters()}
    op = HessianOperator(model, batches, point=point)
    shifted = make_mlp()
    with torch.no_grad():
        for n, p in shifted.named_parameters():
            p.copy_(point[n])
    torch.testing.assert_close(op.to_dense(), dense_hessian(shifted, batches), rtol=RTOL, atol=ATOL)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_eval_mode_inside_and_mode_restored():
    model, batches = make_mlp(), make_batches((4,))
    model.train()
    op = HessianOperator(model, batches)
    H = op.to_dense()
    assert all(m.training for m in model.modules())
    model.eval()
    torch.testing.assert_close(H, dense_hessian(model, batches), rtol=RTOL, atol=ATOL)


def test_scipy_operator_matches():
    model, batches = make_mlp(), make_batches((4,))
    op = HessianOperator(model, batches)
    A = op.to_scipy()
    v = torch.randn(op.dim, dtype=torch.float64)
    assert A.shape == op.shape and A.dtype == "float64"
    # exact: A's matvec is op.matmat on the same vector: the same cached graphs, summed in
    # the same batch order
    torch.testing.assert_close(torch.from_numpy(A @ v.numpy()), op @ v, rtol=0, atol=0)


def test_train_mode_dropout_is_caught():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3)).double()
    batches = make_batches((4,))
    with pytest.raises(RuntimeError, match="not deterministic.*eval mode"):
        HessianOperator(model, batches, train_mode=True)
    HessianOperator(model, batches)  # eval mode switches dropout off: fine


def test_augmented_data_is_caught():
    batches = make_batches((4,))

    class Jitter:
        def __iter__(self):
            for x, y in batches:
                yield x + 0.01 * torch.randn_like(x), y

    with pytest.raises(RuntimeError, match="not deterministic.*unaugmented"):
        HessianOperator(make_mlp(), Jitter())


def test_bad_arguments():
    model, batches = make_mlp(), make_batches((4,))
    with pytest.raises(ValueError, match="method must be one of"):
        HessianOperator(model, batches, method="magic")
    with pytest.raises(ValueError, match="matches no trainable parameter; valid names: 0.weight"):
        HessianOperator(model, batches, params=["conv9"])
    with pytest.raises(ValueError, match="not parameters of the model"):
        HessianOperator(model, batches, point={"nope": torch.zeros(1)})
    with pytest.raises(ValueError, match="data are empty"):
        HessianOperator(model, [])
    op = HessianOperator(model, batches)
    with pytest.raises(ValueError, match=r"expected a vector \[63\] or a block"):
        op @ torch.zeros(2, 2, 2)
    with pytest.raises(ValueError, match=r"expected a block of shape \[63, K\]"):
        op @ torch.zeros(5)
    with pytest.raises(ValueError, match="tensor 0 of the list has shape"):
        op @ ([torch.zeros(1)] * 6)
    with pytest.raises(TypeError, match="expected a tensor"):
        op @ 3.0


def test_cache_budget_falls_back_to_uncached_batches():
    model, batches = make_mlp(), make_batches((4,))
    op = HessianOperator(model, batches, cache_bytes=1)
    v = torch.randn(op.dim, dtype=torch.float64)
    torch.testing.assert_close(op @ v, dense_hessian(model, batches) @ v, rtol=RTOL, atol=ATOL)
    assert op._graphs == [None, None]


def test_cached_products_do_not_pass_over_the_data_again():
    model, batches = make_mlp(), make_batches((4,))

    class Counted(list):  # the batches, counting the passes over them
        passes = 0

        def __iter__(self):
            Counted.passes += 1
            return super().__iter__()

    data = Counted(batches)
    op = HessianOperator(model, data, check_deterministic=False)
    v = torch.randn(op.dim, 3, dtype=torch.float64)
    first = op @ v
    passes = Counted.passes
    again = op @ v  # from the cached graphs alone
    assert Counted.passes == passes
    torch.testing.assert_close(again, first, rtol=0, atol=0)  # exact: the same graphs
    torch.testing.assert_close(again, dense_hessian(model, batches) @ v, rtol=RTOL, atol=ATOL)


def test_custom_loss_fn():
    model, batches = make_mlp(), make_batches((4,))

    def loss(out, y):
        return F.cross_entropy(out, y, label_smoothing=0.1)

    op = HessianOperator(model, batches, loss_fn=loss)
    torch.testing.assert_close(
        op.to_dense(), dense_hessian(model, batches, loss_fn=loss), rtol=RTOL, atol=ATOL
    )


def test_rewritten_network_leaves_the_model_alone():
    model, batches = make_mlp(), make_batches((4,))
    op = HessianOperator(model, batches)
    assert type(op.loss.model[0]).__name__ == "_Layer"  # Linear with the BatchNorm folded in
    assert type(op.loss.model[1]).__name__ == "_FoldedParams"
    assert isinstance(model[0], nn.Linear) and isinstance(model[1], nn.BatchNorm1d)
    assert op.loss.model[0].weight is model[0].weight  # tensors are shared, names kept
    x = batches[0][0]
    model.eval()
    torch.testing.assert_close(op.loss.model(x), model(x), rtol=1e-12, atol=1e-12)


def _deep_convnet(seed=0):
    # every rewrite at once: a data-input convolution (im2col), conv + BatchNorm (folded),
    # ReLU -> MaxPool (swapped, masked), a lone BatchNorm (affine), Linear + BatchNorm1d
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 2, bias=False), nn.ReLU(), nn.BatchNorm2d(4),
        nn.Flatten(), nn.Linear(4 * 2 * 2, 5), nn.BatchNorm1d(5), nn.ReLU(inplace=True),
        nn.Linear(5, 3),
    ).double()
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model


def test_rewrite_is_the_same_function():
    from landscape.curvature._rewrite import rewrite_for_hvp

    model = _deep_convnet()
    net = rewrite_for_hvp(model)
    kinds = [type(m).__name__ for m in net]
    assert kinds[:4] == ["_Layer", "_FoldedParams", "MaxPool2d", "_MaskReLU"]
    assert kinds[4:7] == ["_Layer", "_MaskReLU", "EvalBatchNorm"]
    assert [type(m).__name__ for m in model][:4] == ["Conv2d", "BatchNorm2d", "ReLU",
                                                      "MaxPool2d"]
    x = make_batches((1, 6, 6), sizes=(7,))[0][0]
    model.eval()
    torch.testing.assert_close(net(x), model(x), rtol=1e-12, atol=1e-12)
    assert dict(net.named_parameters()).keys() == dict(model.named_parameters()).keys()


@pytest.mark.parametrize("method", ["cached", "reverse", "forward"])
def test_rewritten_products_match_dense_hessian(method):
    model = _deep_convnet()
    batches = make_batches((1, 6, 6), sizes=(5, 3))
    H = dense_hessian(model, batches)
    op = HessianOperator(model, batches, method=method)
    assert type(op.loss.model[0]).__name__ == "_Layer"  # the rewritten network is in use
    eye = torch.eye(op.dim, dtype=torch.float64)
    torch.testing.assert_close(op @ eye, H, rtol=RTOL, atol=ATOL)


def test_a_rewrite_the_model_cannot_run_falls_back_with_a_warning():
    class ViewFlatten(nn.Module):
        def forward(self, x):
            return x.view(x.shape[0], -1)  # refuses channels-last memory

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), ViewFlatten(), nn.Linear(18, 3)).double()
    batches = make_batches((1, 5, 5))
    with pytest.warns(UserWarning, match="rewritten network failed"):
        op = HessianOperator(model, batches)
    assert op.loss.model is model
    torch.testing.assert_close(op.to_dense(), dense_hessian(model, batches), rtol=RTOL, atol=ATOL)
