"""The same eval-mode network, rewritten so that its second derivatives are cheap.

A Hessian-vector product by double backward differentiates the backward pass. PyTorch's
backward formulas are written for first derivatives, and several cost more than they must
when differentiated again; each rewrite below computes the same function (the same values
up to rounding, and the same derivatives of every order wherever they exist) with a cheaper
double backward:

* **BatchNorm folded into the layer before it.** In eval mode ``BN(conv(x; W, b))`` is
  ``conv(x; W s, (b - mu) s + beta)`` with ``s = gamma / sqrt(var + eps)`` per channel: one
  convolution on activation-sized tensors instead of a convolution and a per-element affine
  map, whose products with ``gamma`` and ``beta`` then act on ``[C]``-sized tensors (Ioffe &
  Szegedy 2015 give the eval-mode map). Where no convolution or linear layer precedes it, a
  BatchNorm becomes that affine map written out (:class:`EvalBatchNorm`); PyTorch's own
  double backward is the general training-mode formula.
* **ReLU as a constant mask,** ``x * 1[x > 0]``: ReLU's double backward otherwise builds and
  propagates an activation-sized zero gradient for its input (the second derivative of
  ReLU, zero almost everywhere).
* **ReLU after max-pooling.** ``maxpool(relu(x)) = relu(maxpool(x))`` (ReLU is monotone, and
  both orders route the gradient to the same element), so the mask acts on the pooled tensor.
* **A first convolution by im2col.** The double backward of a convolution also computes a
  gradient for its input, even when the input is data (a transposed convolution on the full
  activation, discarded). Where the input needs no gradient and ``C_in k^2`` is small, the
  layer is a matrix product with the unfolded input, ``[N HW, C_in k^2] @ [C_in k^2, C_out]``,
  whose output is laid out channels-last, the faster layout for the layers after it on CPU.

Only structure visible in the module tree is used: a layer followed by a BatchNorm, or a ReLU
followed by a max-pool, inside one ``nn.Sequential``. The copy shares every tensor with the
original and keeps its parameter and buffer names, so ``functional_call`` with the original
names evaluates it.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EvalBatchNorm", "rewrite_for_hvp"]

_BN = nn.modules.batchnorm._BatchNorm
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_UNFOLD_WIDTH = 8  # im2col when C_in k^2 <= 8 C_out (the unfolded input stays small)


def _bn_scale_shift(bn: nn.Module) -> tuple[Tensor, Tensor]:
    """``(s, t)`` with ``BN(x) = x * s + t`` per channel, in eval mode."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.weight is not None:
        scale, shift = scale * bn.weight, shift * bn.weight
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


class EvalBatchNorm(nn.Module):
    """Eval-mode BatchNorm written as the per-channel affine map it is.

    ``y = x * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``: the same function
    as ``F.batch_norm(..., training=False)``, with the parameter and buffer names of the
    module it replaces, but built from elementwise products whose double backward is cheap.
    """

    def __init__(self, bn: _BN) -> None:
        super().__init__()
        self.eps = bn.eps
        self.weight, self.bias = bn.weight, bn.bias
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        if bn.num_batches_tracked is not None:
            self.register_buffer("num_batches_tracked", bn.num_batches_tracked)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the affine map along the channel dimension 1."""
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale, shift = _bn_scale_shift(self)
        return x * scale.view(shape) + shift.view(shape)


class _FoldedParams(EvalBatchNorm):
    """A BatchNorm folded into the layer before it: holds its tensors, passes ``x`` through."""

    def forward(self, x: Tensor) -> Tensor:
        """Identity: the preceding layer applies this BatchNorm."""
        return x


def _unfoldable(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.groups == 1 and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str)
            and conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
            <= _UNFOLD_WIDTH * conv.out_channels)


def _im2col_conv(conv: nn.Conv2d, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``conv2d(x, weight, bias)`` as one matrix product with the unfolded ``x``."""
    n, _, h, w = x.shape
    cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)
    kh, kw = conv.kernel_size
    ho = (h + 2 * conv.padding[0] - conv.dilation[0] * (kh - 1) - 1) // conv.stride[0] + 1
    wo = (w + 2 * conv.padding[1] - conv.dilation[1] * (kw - 1) - 1) // conv.stride[1] + 1
    flat = cols.transpose(1, 2).reshape(n * ho * wo, -1)
    w2 = weight.reshape(weight.shape[0], -1).T
    out = flat @ w2 if bias is None else torch.addmm(bias, flat, w2)
    return out.view(n, ho, wo, -1).permute(0, 3, 1, 2)  # channels-last memory


class _Layer(nn.Module):
    """A convolution or linear layer, optionally with a BatchNorm folded in (same names)."""

    def __init__(self, layer: nn.Module, bn: _FoldedParams | None) -> None:
        super().__init__()
        self.weight, self.bias = layer.weight, layer.bias
        object.__setattr__(self, "layer", layer)  # not a submodule: names stay the same
        object.__setattr__(self, "bn", bn)
        self.unfold = _unfoldable(layer)

    def forward(self, x: Tensor) -> Tensor:
        """The layer with the folded weights ``W s`` and bias ``(b - mu) s + beta``."""
        weight, bias = self.weight, self.bias
        if self.bn is not None:
            scale, shift = _bn_scale_shift(self.bn)
            weight = weight * scale.view((-1,) + (1,) * (weight.dim() - 1))
            bias = shift if bias is None else bias * scale + shift
        if self.unfold and not x.requires_grad:
            return _im2col_conv(self.layer, x, weight, bias)
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, weight, bias)
        return self.layer._conv_forward(x, weight, bias)


class _MaskReLU(nn.Module):
    """``relu(x)`` as ``x * 1[x > 0]``: the mask is a constant to autograd."""

    def forward(self, x: Tensor) -> Tensor:
        """Zero the non-positive entries (a float mask: the fastest product on CPU)."""
        return x * (x > 0).to(x.dtype)


def _foldable(layer: nn.Module, bn: nn.Module) -> bool:
    if not (isinstance(bn, _BN) and bn.track_running_stats and bn.running_mean is not None):
        return False
    if isinstance(layer, nn.Linear):
        return layer.out_features == bn.num_features
    return isinstance(layer, nn.modules.conv._ConvNd) and not layer.transposed and (
        layer.out_channels == bn.num_features)


def _rewrite_sequential(seq: nn.Sequential) -> None:
    names = list(seq._modules)
    for a, b in itertools.pairwise(names):
        first, second = seq._modules[a], seq._modules[b]
        if isinstance(first, nn.Linear | nn.modules.conv._ConvNd) and _foldable(first, second):
            holder = _FoldedParams(second)
            seq._modules[a], seq._modules[b] = _Layer(first, holder), holder
        elif (type(first) is nn.ReLU and isinstance(second, _POOLS)
              and not second.return_indices):
            seq._modules[a], seq._modules[b] = second, first


def rewrite_for_hvp(model: nn.Module) -> nn.Module:
    """Return a structural copy of ``model`` (eval mode) with cheap second derivatives.

    Every module on the way to a replaced one is shallow-copied, so ``model`` is left
    untouched; all tensors are shared. A model with nothing to rewrite is returned as is.
    """
    targets = [name for name, m in model.named_modules()
               if isinstance(m, nn.Sequential | _BN | nn.ReLU | nn.Conv2d)]
    if not targets:
        return model
    clone = copy.copy(model)
    clone._modules = dict(clone._modules)
    for name in sorted(targets, key=lambda n: n.count(".")):
        if name:
            _copy_path(clone, name)
    for _, module in list(clone.named_modules()):
        if isinstance(module, nn.Sequential):
            _rewrite_sequential(module)
    for name, module in list(clone.named_modules()):
        if type(module) is nn.ReLU:
            _replace(clone, name, _MaskReLU())
        elif isinstance(module, _BN) and module.track_running_stats and (
                module.running_mean is not None):
            _replace(clone, name, EvalBatchNorm(module))
        elif isinstance(module, nn.Conv2d) and _unfoldable(module):
            _replace(clone, name, _Layer(module, None))
    return clone


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    parent._modules[child] = new


def _copy_path(root: nn.Module, name: str) -> None:
    """Shallow-copy the module at ``name`` and its ancestors' child dicts (once each)."""
    parts = name.split(".")
    node = root
    for part in parts:
        child = node._modules[part]
        if not getattr(child, "_landscape_copy", False):
            child = copy.copy(child)
            child._modules = dict(child._modules)
            object.__setattr__(child, "_landscape_copy", True)
            node._modules[part] = child
        node = child
