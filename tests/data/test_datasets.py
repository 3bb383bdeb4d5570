import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from landscape.data import EvalSet, get_dataset, list_datasets


def test_registry_lists_all_datasets():
    assert {"mnist5k", "mnist", "fashion_mnist", "cifar10", "cifar100", "synthetic"} <= set(
        list_datasets()
    )


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'.*mnist5k"):
        get_dataset("imagenet")


def test_unknown_option_is_a_clear_error():
    with pytest.raises(ValueError, match="synthetic"):
        get_dataset("synthetic", colour="red")


def test_mnist5k_is_real_stratified_and_deterministic():
    a, b = get_dataset("mnist5k"), get_dataset("mnist5k")
    assert len(a.train) == 4000 and len(a.test) == 1000
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape[1:] == (1, 28, 28)
    assert torch.equal(torch.bincount(a.train.labels), torch.full((10,), 400))
    assert torch.equal(torch.bincount(a.test.labels), torch.full((10,), 100))
    assert torch.equal(a.train.images, b.train.images) and a.digest() == b.digest()
    # real digits: mostly black background, some bright strokes
    assert a.train.images.max() == 255 and (a.train.images == 0).float().mean() > 0.5


def test_synthetic_is_seeded():
    a = get_dataset("synthetic", input_shape=(3, 4, 4), num_classes=5, seed=1)
    b = get_dataset("synthetic", input_shape=(3, 4, 4), num_classes=5, seed=1)
    c = get_dataset("synthetic", input_shape=(3, 4, 4), num_classes=5, seed=2)
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, c.train.images)
    assert a.train.images.shape == (256, 3, 4, 4) and int(a.train.labels.max()) < 5
    assert a.spec()["options"]["seed"] == 1


def test_synthetic_rejects_impossible_values():
    with pytest.raises(ValueError, match="num_classes >= 2"):
        get_dataset("synthetic", num_classes=1)


def _write_idx(path, array, gz):
    codes = {np.uint8: 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype.type], array.ndim)
    header += b"".join(struct.pack(">I", s) for s in array.shape)
    data = header + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def _write_mnist(root, folder, n_train=12, n_test=7, gz=False):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        _write_idx(raw / name, arr, gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_mnist_family_reads_real_idx_files(tmp_path, name, folder, gz):
    arrays = _write_mnist(tmp_path, folder, gz=gz)
    ds = get_dataset(name, root=tmp_path)
    assert ds.train.images.shape == (12, 1, 28, 28) and ds.test.images.shape == (7, 1, 28, 28)
    np.testing.assert_array_equal(ds.train.images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test.labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert ds.train.labels.dtype == torch.int64


def test_missing_data_root_names_expected_files(tmp_path):
    expected = r"(?s)MNIST/raw/train-images-idx3-ubyte.*--data-root"
    with pytest.raises(FileNotFoundError, match=expected):
        get_dataset("mnist", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py/data_batch_1"):
        get_dataset("cifar10", root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="--data-root"):
        get_dataset("cifar10")


def test_truncated_idx_file_is_reported(tmp_path):
    _write_mnist(tmp_path, "MNIST")
    f = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        get_dataset("mnist", root=tmp_path)


def _write_cifar(base, files, label_key, n=6, classes=10):
    base.mkdir(parents=True)
    rng = np.random.default_rng(1)
    out = {}
    for f in files:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, classes, n).tolist()
        with open(base / f, "wb") as fh:
            pickle.dump({"data": data, label_key: labels, "batch_label": f}, fh)
        out[f] = (data, labels)
    return out


def test_cifar10_reads_real_pickle_batches(tmp_path):
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = _write_cifar(tmp_path / "cifar-10-batches-py", files, "labels")
    ds = get_dataset("cifar10", root=tmp_path)
    assert ds.train.images.shape == (30, 3, 32, 32) and len(ds.test) == 6
    np.testing.assert_array_equal(
        ds.train.images[:6].reshape(6, -1).numpy(), written["data_batch_1"][0]
    )
    assert ds.test.labels.tolist() == written["test_batch"][1]


def test_cifar100_uses_fine_labels(tmp_path):
    written = _write_cifar(tmp_path / "cifar-100-python", ["train", "test"], "fine_labels",
                           classes=100)
    ds = get_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and ds.train.labels.tolist() == written["train"][1]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_tampered_cifar_pickle_runs_no_code(tmp_path):
    base = tmp_path / "cifar-100-python"
    _write_cifar(base, ["train", "test"], "fine_labels")
    marker = tmp_path / "pwned"
    with open(base / "train", "wb") as fh:
        pickle.dump({"data": _Evil(marker), "fine_labels": [0]}, fh)
    with pytest.raises(ValueError, match="not a genuine CIFAR batch"):
        get_dataset("cifar100", root=tmp_path)
    assert not marker.exists()


def test_evalset_batches_subset_and_normalisation():
    ds = get_dataset("mnist5k")
    ev = EvalSet(ds, "test", batch_size=300, dtype=torch.float64)
    assert ev.batch_sizes == [300, 300, 300, 100] and len(ev) == 4
    assert ev.x.dtype == torch.float64 and abs(float(ev.x.mean())) < 0.1
    xs = torch.cat([x for x, _ in ev])
    assert torch.equal(xs, ev.x)
    sub = EvalSet(ds, "train", batch_size=64, subset=100, subset_seed=3)
    assert sub.num_samples == 100 and sub.spec()["subset"] == 100
    assert torch.equal(EvalSet(ds, "train", subset=100, subset_seed=3).y, sub.y)
    with pytest.raises(ValueError, match="subset must be between"):
        EvalSet(ds, "train", subset=10**6)
