import pytest
import torch
from torch import nn

from landscape.models import create_model
from landscape.pruning._masks import (
    grow_highest,
    load_masks,
    masks_state,
    prunable_parameters,
    prune_lowest,
    random_masks,
)


def test_prunable_parameters_conv_bn():
    model = create_model("basicnet", seed=0, num_classes=10, input_shape=[3, 32, 32])
    names = list(prunable_parameters(model))
    params = dict(model.named_parameters())
    assert names and all(params[n].dim() >= 2 for n in names)
    norm = {f"{n}.{p}" for n, m in model.named_modules()
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for p in ("weight", "bias")}
    assert norm and not norm & set(names)
    assert all(not n.endswith(".bias") for n in names)
    inner = list(prunable_parameters(model, dense_first_last=True))
    assert inner == names[1:-1]


def test_prune_and_grow_ties_are_exact_and_stable():
    score = torch.zeros(6)                               # all tied
    active = torch.tensor([True, True, False, True, True, True])
    out = prune_lowest(score, active, 2)
    assert out.tolist() == [False, False, False, True, True, True]
    assert int(out.sum()) == int(active.sum()) - 2
    grown = grow_highest(torch.zeros(6), out, 2)
    assert grown.tolist() == [True, True, False, True, True, True]
    with pytest.raises(ValueError, match="cannot prune 6 of 5 active weights"):
        prune_lowest(score, active, 6)
    with pytest.raises(ValueError, match="cannot grow 2 weights: only 1 are inactive"):
        grow_highest(score, active, 2)


def test_random_masks_exact_count_and_state_roundtrip():
    params = {"a": torch.zeros(7, 3), "b": torch.zeros(2, 2, 3, 3)}
    masks = random_masks(params, 0.25, torch.Generator().manual_seed(0))
    assert [int(m.sum()) for m in masks.values()] == [5, 9]    # round(5.25), round(9.0)
    state = masks_state(masks)
    back = load_masks(state, params, what="t")
    assert all(torch.equal(back[n], masks[n]) for n in masks)
    with pytest.raises(ValueError, match=r"t: the saved masks cover \['a'\]"):
        load_masks({"a": state["a"]}, params, what="t")
    with pytest.raises(ValueError, match="mask 'a' should be a bool tensor of shape"):
        load_masks({"a": state["a"].float(), "b": state["b"]}, params, what="t")
