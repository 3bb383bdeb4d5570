import numpy as np
import torch

from landscape.data import EvalSet, get_dataset
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.subject import Subject
from landscape.models import create_model
from landscape.store import Store

DATA = {"input_shape": [1, 3, 3], "num_classes": 3, "num_train": 50, "num_test": 10}


def test_warm_started_topk_is_the_cold_answer_and_shares_its_key(tmp_path):
    model = create_model("mlp", seed=0, num_classes=3, input_shape=[1, 3, 3], widths=[5],
                         batchnorm=True).double()
    data = EvalSet(get_dataset("synthetic", **DATA), "train", batch_size=16, dtype=torch.float64)
    subject = Subject(model=model, data={"train": data}, data_spec={"train": data.spec()},
                      digest="abc", label="test")
    kw = {"k": 3, "tol": 1e-9}
    cold = hessian_topk(Store(tmp_path / "a"), subject, **kw)
    start = torch.from_numpy(cold["eigenvectors"]).T + 1e-3  # [P, k]: a nearby subspace
    warm = hessian_topk(Store(tmp_path / "b"), subject, start=start, **kw)
    assert warm.key == cold.key  # the start is not part of the question
    assert all(warm["converged"]) and warm["num_products"] < cold["num_products"]
    # both stop at residuals <= 1e-9 |lambda|, so the eigenvalues agree to far better than that
    np.testing.assert_allclose(warm["eigenvalues"], cold["eigenvalues"], rtol=1e-9)
