"""The analyses state what their entries hold: a forged entry is recomputed, not served."""

from __future__ import annotations

import json

import pytest

from landscape.checkpoint import save_checkpoint
from landscape.cli import main
from landscape.models import create_model
from landscape.store import Store, StoreWarning

from ._tamper import forge

DATA = {"input_shape": [1, 3, 3], "num_classes": 3, "num_train": 40, "num_test": 10}


def test_hessian_recomputes_an_entry_holding_too_few_eigenpairs(tmp_path, capsys):
    kwargs = {"num_classes": 3, "input_shape": [1, 3, 3], "widths": [5]}
    path = tmp_path / "run" / "epoch_0001.pt"
    save_checkpoint(path, create_model("mlp", seed=0, **kwargs), model_name="mlp",
                    model_kwargs=kwargs, epoch=1,
                    config={"dataset": "synthetic", "dataset_args": DATA})
    argv = ["hessian", str(path), "--top-k", "5", "--json", "--store", str(tmp_path / "s")]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    store = Store(tmp_path / "s")
    entry = store.get(first["key"])
    forge(entry.path, "eigenvalues", entry["eigenvalues"][:3])  # self-consistent, but k=3
    with pytest.warns(StoreWarning, match=r"'eigenvalues' has shape \(3,\), expected \(5,\)"):
        assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cached"] is False and len(again["eigenvalues"]) == 5
    assert again["eigenvalues"] == first["eigenvalues"]  # exact: same deterministic computation
