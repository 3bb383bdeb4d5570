"""The fused per-tensor weighted sum behind Curve.point: values, gradients, both backward paths."""

from __future__ import annotations

import pytest
import torch

from landscape.curves._combine import combine, scaled_flat

SIZES, SHAPES = [6, 3, 1], [(2, 3), (3,), (1, 1)]


def _points(k: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(k)
    return [torch.randn(10, generator=g, dtype=torch.float64) for _ in range(k)]


@pytest.mark.parametrize("weights", [[0.2, 0.5, 0.3], [0.0, 1.0, 0.0], [0.1, 0.0, 0.6, 0.3]])
def test_values_and_gradients_match_the_written_out_sum(weights):
    points = _points(len(weights))
    middle = [p.clone().requires_grad_() for p in points[1:-1]]
    pieces = combine(weights, [points[0], *middle, points[-1]], SIZES, SHAPES)
    want = sum(w * p for w, p in zip(weights, points))
    got = torch.cat([p.reshape(-1) for p in pieces])
    torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-14)
    probe = torch.arange(10, dtype=torch.float64)
    (got * probe).sum().backward()
    for w, m in zip(weights[1:-1], middle):
        if w == 0.0:
            assert m.grad is None  # skipped terms get no gradient, as the flat sum skips them
        else:
            # one rounded product per element on both sides
            assert torch.equal(m.grad, w * probe)  # exact: the same multiplication


def test_single_term_is_an_exact_copy_and_zero_weights_are_refused():
    a, b = _points(2)
    pieces = combine([1.0, 0.0], [a, b], SIZES, SHAPES)
    assert torch.equal(torch.cat([p.reshape(-1) for p in pieces]), a)
    pieces[0].add_(1.0)  # a new tensor, not a view of the control point
    assert torch.equal(torch.cat([p.reshape(-1) for p in combine([1.0, 0.0], [a, b], SIZES,
                                                                 SHAPES)]), a)
    with pytest.raises(RuntimeError, match="all curve weights vanish"):
        combine([0.0, 0.0], [a, b], SIZES, SHAPES)


def test_scaled_flat_concatenates_noncontiguous_pieces():
    g = torch.Generator().manual_seed(3)
    grads = [torch.randn(3, 2, generator=g, dtype=torch.float64).t(),  # non-contiguous (2, 3)
             torch.randn(3, generator=g, dtype=torch.float64),
             torch.randn(1, 1, generator=g, dtype=torch.float64)]
    assert not grads[0].is_contiguous()
    want = torch.cat([0.7 * t.reshape(-1) for t in grads])
    # one multiplication by 0.7 per element on both sides, only the copy order differs
    assert torch.equal(scaled_flat(grads, 0.7, SIZES), want)  # exact: same products


def test_scaled_flat_per_tensor_and_concatenated_paths_agree(monkeypatch):
    import landscape.curves._combine as combine_module

    g = torch.Generator().manual_seed(4)
    grads = [torch.randn(3, 2, generator=g, dtype=torch.float64).t(),
             torch.randn(3, generator=g, dtype=torch.float64),
             torch.randn(1, 1, generator=g, dtype=torch.float64)]
    monkeypatch.setattr(combine_module, "_PER_TENSOR", 1)  # one kernel per tensor
    per_tensor = scaled_flat(grads, 0.3, SIZES)
    monkeypatch.setattr(combine_module, "_PER_TENSOR", 1 << 60)  # concatenate, then scale
    assert torch.equal(per_tensor, scaled_flat(grads, 0.3, SIZES))  # exact: same products
