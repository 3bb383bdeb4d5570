import hashlib

import pytest
import torch

from landscape.data import batches_digest, load_data_file

DATA_PY = '''
import torch
from torch.utils.data import DataLoader, TensorDataset

g = torch.Generator().manual_seed(0)
X = torch.randn(10, 3, generator=g)
Y = torch.arange(10) % 2


def loader(batch_size=4, shuffle=False):
    return DataLoader(TensorDataset(X, Y), batch_size=batch_size, shuffle=shuffle)


def splits():
    return {"train": [(X[:6], Y[:6])], "test": [(X[6:], Y[6:])]}


def pairs(flip=False):
    return [(X[:5], 1 - Y[:5] if flip else Y[:5]), (X[5:], Y[5:])]


def generator():
    return ((X[i:i + 2], Y[i:i + 2]) for i in range(0, 10, 2))


class Once:
    def __init__(self):
        self.done = False

    def __iter__(self):
        if not self.done:
            self.done = True
            yield X, Y


def once():
    return Once()


def bad_pairs():
    return [X]


def bad_rows():
    return [(X, Y[:3])]


def empty():
    return []


def wrong_keys():
    return {"train": [(X, Y)], "valid": [(X, Y)]}


def number():
    return 3
'''


@pytest.fixture
def data_py(tmp_path):
    path = tmp_path / "data.py"
    path.write_text(DATA_PY)
    return path


def test_a_dataloader_serves_both_splits(data_py):
    data = load_data_file(f"{data_py}:loader", batch_size=4)
    assert data.single and data.train is data.test and data.split("test") is data.train
    assert data.num_samples == {"train": 10, "test": 10}
    assert data.definition == {"kind": "file", "path": str(data_py.resolve()),
                               "sha256": hashlib.sha256(data_py.read_bytes()).hexdigest(),
                               "factory": "loader", "options": {"batch_size": 4}}
    assert [len(y) for _, y in data.train] == [4, 4, 2]
    assert data.digests["train"] == data.digests["test"] == batches_digest(data.train)[0]


def test_a_mapping_gives_two_splits(data_py):
    data = load_data_file(f"{data_py}:splits")
    assert not data.single and data.num_samples == {"train": 6, "test": 4}
    assert data.digests["train"] != data.digests["test"]


def test_digest_follows_the_content(data_py):
    a = load_data_file(f"{data_py}:pairs")
    b = load_data_file(f"{data_py}:pairs")
    flipped = load_data_file(f"{data_py}:pairs", flip=True)
    assert a.digest() == b.digest() != flipped.digest()
    assert a.definition != flipped.definition
    # the same data in other batches: another (conservative) identity
    rebatched = load_data_file(f"{data_py}:loader", batch_size=2)
    assert rebatched.digest() != a.digest()
    x = torch.cat([x for x, _ in a.train])
    assert torch.equal(x, torch.cat([x for x, _ in rebatched.train]))  # exact: same tensors


def test_data_that_cannot_be_passed_over_twice_is_refused(data_py):
    with pytest.raises(TypeError, match=r"data factory .*:generator is a one-shot iterator "
                                        r"\(generator\)"):
        load_data_file(f"{data_py}:generator")
    with pytest.raises(ValueError, match=r"was exhausted after one pass"):
        load_data_file(f"{data_py}:once")
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"yields a different first batch on a second pass "
                                         r"\(a DataLoader with shuffle=True"):
        load_data_file(f"{data_py}:loader", shuffle=True)


def test_bad_batches_and_results_are_named(data_py):
    cases = [
        ("bad_pairs", TypeError, r"batch 0 is a Tensor, not a pair of tensors \(x, y\)"),
        ("bad_rows", ValueError, r"batch 0 has inputs of shape \(10, 3\) and targets of shape "
                                 r"\(3,\)"),
        ("empty", ValueError, r"yields no batches"),
        ("wrong_keys", ValueError, r"a mapping with keys \['train', 'valid'\]: return "
                                   r"\{'train': batches, 'test': batches\}"),
        ("number", TypeError, r"returned a int, not batches.*DataLoader\(dataset"),
    ]
    for factory, kind, message in cases:
        with pytest.raises(kind, match=rf"data factory .*data\.py:{factory}.*{message}"):
            load_data_file(f"{data_py}:{factory}")


def test_file_errors(data_py, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data file '.*missing\.py' does not exist"):
        load_data_file(f"{tmp_path}/missing.py:loader")
    with pytest.raises(ValueError, match=r"defines no 'load'; it defines \[.*'loader'"):
        load_data_file(f"{data_py}:load")
    with pytest.raises(ValueError, match=r"data file 'data\.py' is not PATH\.py:FACTORY"):
        load_data_file("data.py")
    with pytest.raises(ValueError, match=r"data factory .*:loader has no option\(s\) \['size'\]"):
        load_data_file(f"{data_py}:loader", size=3)
