"""Feature statistics through the store: same keys as before, a resumable pass, fractions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pinned_runs import make_pair

from landscape.experiment.features import (
    FEATURE_PASS,
    feature_pass_cached,
    feature_statistics_cached,
    survey,
)
from landscape.experiment.subject import DataOptions, Subject, resolve_subject
from landscape.stats import feature_pass, feature_statistics
from landscape.store import Store

# computed by the code before the experiment layer (stats._featurestore) on make_pair's SGD run,
# epoch 1, its training split in batches of 5: an existing store keeps answering
PINNED_FEATURES = "9b939cabed81ab8cd48f2e94c7e851753289a0e3ef3d4a28d95867e94c17b551"
PINNED_PASS = "c050aa0554051e450afa8827a67d3fb9641712eebb587f32a3fef5d64e0e2326"


@pytest.fixture
def subject(tmp_path):
    sgd, _ = make_pair(tmp_path / "runs")
    return resolve_subject(sgd, data=DataOptions(batch_size=5))


def test_the_store_keys_are_those_of_the_former_code(subject, tmp_path):
    store = Store(tmp_path / "store")
    result = feature_statistics_cached(store, subject)
    assert result.key == PINNED_FEATURES and not result.cached
    assert {e.name: e.key for e in store.entries()} == {"features": PINNED_FEATURES,
                                                         "features.pass": PINNED_PASS}
    again = feature_statistics_cached(store, subject)
    assert again.cached and again.key == PINNED_FEATURES
    direct = feature_statistics(subject.model, subject.split("train"), num_classes=3)
    # exact: the same batches through the same kernels, stored in the pass's own dtype
    np.testing.assert_array_equal(again.stats["layers"]["hidden.0.1"]["pooled_max"],
                                  direct["layers"]["hidden.0.1"]["pooled_max"])


def test_an_entry_stored_with_percentages_is_answered_with_fractions(subject, tmp_path):
    """Entries written before the fractions: the summary is rebuilt from the layer arrays."""
    store = Store(tmp_path / "store")
    old = feature_statistics(subject.model, subject.split("train"), num_classes=3)
    old["layers"]["hidden.0.1"]["dead_activation"][:] = [True, False, False, False]
    old["summary"] = {k: v for k, v in old["summary"].items() if "fraction" not in k}
    old["summary"].update(pct_dead_activation=25.0, pct_dead_scale=float("nan"),
                          pct_zero_weights=0.0, dead_activation=1)
    params = {"num_classes": 3, "xi": 1e-6, "activation_threshold": 1e-12,
              "gamma_threshold": 1e-3, "universality_threshold": 1e-3}
    entry = store.get_or_compute("features", params, subject.inputs(), lambda: old,
                                 dataset=subject.data_spec["train"])
    assert entry.key == PINNED_FEATURES
    result = feature_statistics_cached(store, subject)
    s = result.stats["summary"]
    assert result.cached and not any(k.startswith("pct_") for k in s)
    assert s["dead_activation"] == 1 and s["dead_activation_fraction"] == 0.25  # exact: 1/4


def test_a_killed_pass_resumes_at_its_first_missing_batch(subject, tmp_path):
    store = Store(tmp_path / "store")
    data, spec = subject.split("train"), subject.data_spec["train"]
    # a pass killed after its first batch: batch 0 is in the partial (marked here by 7.0)
    part = store.partial(FEATURE_PASS.name, {"num_classes": 3, "batch_size": 5,
                                             "sites": ["hidden.0.1"]}, subject.inputs(),
                         dataset=spec, fields={"pooled.hidden.0.1": ((3, 5, 4), "float32"),
                                               "mass.hidden.0.1": ((3, 3, 4), "float64")},
                         grid=(3,))
    part.write((0,), **{"pooled.hidden.0.1": np.full((5, 4), 7.0, np.float32),
                        "mass.hidden.0.1": np.zeros((3, 4))})
    fp = feature_pass_cached(store, subject)
    assert (fp.pooled["hidden.0.1"][:5] == 7.0).all()  # batch 0 was not recomputed
    ref = feature_pass(subject.model, data, num_classes=3)
    # exact: the same batches of 5 through the same kernels in both passes
    assert torch.equal(fp.pooled["hidden.0.1"][5:], ref.pooled["hidden.0.1"][5:])
    assert fp.labels.tolist() == ref.labels.tolist()


def _file_subject(subject: Subject, batches, spec: dict) -> Subject:
    return Subject(model=subject.model, data={"train": batches}, data_spec={"train": spec},
                   digest=subject.digest, label="user data")


def test_uneven_user_batches_and_inferred_classes(subject, tmp_path):
    x, y = subject.split("train").x, subject.split("train").y
    batches = [(x[:2], y[:2]), (x[2:9], y[2:9]), (x[9:], y[9:])]
    user = _file_subject(subject, batches, {"data_file": "test", "digest": "d"})
    result = feature_statistics_cached(Store(tmp_path / "store"), user)
    direct = feature_statistics(subject.model, batches)
    assert result.stats["num_classes"] == direct["num_classes"] == int(y.max()) + 1
    assert result.stats["num_samples"] == 12
    # exact: the same uneven batches through the same kernels; padding trimmed on reading
    np.testing.assert_array_equal(result.stats["layers"]["hidden.0.1"]["universality"],
                                  direct["layers"]["hidden.0.1"]["universality"])
    assert survey(batches).sizes == (2, 7, 3)


def test_a_shuffling_loader_is_refused_for_the_cached_pass(subject, tmp_path):
    x, y = subject.split("train").x, subject.split("train").y

    class Shuffled:
        def __init__(self):
            self.calls = 0

        def __iter__(self):
            self.calls += 1
            order = torch.randperm(12, generator=torch.Generator().manual_seed(self.calls))
            for i in range(0, 12, 4):
                yield x[order[i:i + 4]], y[order[i:i + 4]]

    user = _file_subject(subject, Shuffled(), {"data_file": "shuffled"})
    with pytest.raises(RuntimeError, match="differs between two passes"):
        feature_pass_cached(Store(tmp_path / "store"), user, num_classes=3)

