from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.store import canonical_json, entry_key, question_key


def test_canonical_json_sorts_keys_and_keeps_floats_exact():
    a = canonical_json({"b": 0.1, "a": [1, (2, 3)], "c": {"y": None, "x": True}})
    assert a == '{"a":[1,[2,3]],"b":0.1,"c":{"x":true,"y":null}}'
    assert canonical_json({"x": 0.1 + 2**-56}) != canonical_json({"x": 0.1})
    assert canonical_json({"x": np.float64(0.25), "n": np.int32(3)}) == '{"n":3,"x":0.25}'
    assert canonical_json({"x": 1}) != canonical_json({"x": 1.0})  # an int is not a float


def test_same_question_same_key_any_order():
    k1 = entry_key("h.topk", {"k": 10, "which": "LA"}, {"checkpoint": "d1"}, {"name": "m"}, 2)
    k2 = entry_key("h.topk", {"which": "LA", "k": 10}, {"checkpoint": "d1"}, {"name": "m"}, 2)
    assert k1 == k2 and len(k1) == 64 and int(k1, 16) >= 0


@pytest.mark.parametrize("change", [
    {"name": "h.other"}, {"params": {"k": 11}}, {"inputs": {"checkpoint": "d2"}},
    {"dataset": {"name": "n"}}, {"version": 3},
])
def test_any_change_gives_a_new_key(change):
    base = {"name": "h.topk", "params": {"k": 10}, "inputs": {"checkpoint": "d1"},
            "dataset": {"name": "m"}, "version": 2}
    assert entry_key(**{**base, **change}) != entry_key(**base)


def test_none_and_empty_inputs_agree_and_question_key_ignores_version():
    assert entry_key("a", {}, None) == entry_key("a", {}, {})
    assert question_key("a", {"k": 1}) != entry_key("a", {"k": 1})
    assert entry_key("a", {}, version=1) != entry_key("a", {}, version=2)


@pytest.mark.parametrize("params, error, match", [
    ({"x": float("nan")}, ValueError, "JSON cannot hold"),
    ({"x": torch.ones(2)}, TypeError, "not JSON-able"),
    ({1: 2}, TypeError, "keys must be strings"),
    ([1, 2], TypeError, "must be a dict"),
])
def test_bad_params_are_refused_clearly(params, error, match):
    with pytest.raises(error, match=match):
        entry_key("a", params)


def test_bad_name_version_inputs():
    with pytest.raises(TypeError, match="non-empty string"):
        entry_key("", {})
    with pytest.raises(TypeError, match="schema version must be an int"):
        entry_key("a", {}, version=0)
    with pytest.raises(TypeError, match="content digest"):
        entry_key("a", {}, {"checkpoint": 3})
