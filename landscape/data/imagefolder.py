"""``imagefolder``: your own images in torchvision's ``ImageFolder`` layout.

Layout (``--data-root ROOT``; class names are folder names, given indices in sorted order,
as torchvision's ``ImageFolder`` does; image files are those with its extensions, ``.png``,
``.jpg``, ``.jpeg``, ``.bmp``, ``.ppm``, ``.pgm``, ``.tif``, ``.tiff``, ``.webp``)::

    ROOT/train/CLASS/IMAGE      the train split
    ROOT/test/CLASS/IMAGE       the test split (or ROOT/val/CLASS/IMAGE when there is no test/)

or, with no ``train/`` folder, a single folder ``ROOT/CLASS/IMAGE`` whose images serve as
*both* the train and the test split (a warning says so; ``layout="single"`` asks for it
explicitly). The train and test folders must hold the same classes, so that a class has one
index in both.

Transform, applied once while reading, the evaluation transform of torchvision's
classification models: convert to RGB (``channels=3``) or grayscale (``channels=1``); resize
the shorter side to ``resize`` pixels (default ``size``; bilinear, antialiased); crop the
central ``size`` x ``size`` square; keep the pixels as a ``uint8`` tensor ``[N, C, size,
size]``. Normalisation is applied per batch, as for every dataset here: ``x / 255``, then
``(x - mean) / std`` per channel, with ImageNet's mean and standard deviation by default
(what torchvision's pretrained models expect); ``mean=none std=none`` keeps pixels in
``[0, 1]``. All images are held in memory (``N * C * size * size`` bytes), as suits
evaluation sets of up to some tens of thousands of images.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from landscape.data._base import Dataset, Split
from landscape.data.registry import register_dataset

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_LAYOUT = (
    "expected ROOT/train/CLASS/IMAGE and ROOT/test/CLASS/IMAGE (or ROOT/val/CLASS/IMAGE), or "
    "a single folder ROOT/CLASS/IMAGE used for both splits; images are .png, .jpg, .jpeg, "
    ".bmp, .ppm, .pgm, .tif, .tiff or .webp files"
)


def _channels_stat(
    name: str, value: Sequence[float] | float | str | None, channels: int,
    imagenet: tuple[float, ...],
) -> tuple[float, ...] | None:
    """Resolve the ``mean``/``std`` option to one value per channel (or ``None``)."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value.lower() == "imagenet":
        if channels != 3:
            raise ValueError(
                f"dataset 'imagefolder': ImageNet's {name} has 3 channels but channels="
                f"{channels}: pass {name}=VALUE (e.g. {name}=0.5) or {name}=none"
            )
        return imagenet
    values = [value] if isinstance(value, int | float) else value
    if (isinstance(values, str) or not all(isinstance(v, int | float) for v in values)
            or len(values) not in (1, channels)):
        raise ValueError(
            f"dataset 'imagefolder': option {name}={value!r} is not 'imagenet', none, or 1 or "
            f"{channels} numbers (e.g. {name}=0.5 or {name}={','.join(['0.5'] * channels)})"
        )
    if name == "std" and min(values) <= 0:
        raise ValueError(f"dataset 'imagefolder': option std={value!r} must be positive")
    return tuple(float(v) for v in values) * (channels // len(values))


def _classes(folder: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def _read(folder: Path, *, size: int, resize: int, channels: int) -> tuple[list[str], Split]:
    """Read every image under ``folder/CLASS/`` with the stated transform."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    classes = _classes(folder)
    if not classes:
        raise ValueError(f"{folder} holds no class folders: {_LAYOUT}")
    try:
        samples = make_dataset(str(folder), {c: i for i, c in enumerate(classes)},
                               extensions=IMG_EXTENSIONS)
    except FileNotFoundError as exc:  # torchvision's word for a class without images
        raise ValueError(f"{folder}: {exc}; {_LAYOUT}") from None
    images = torch.empty(len(samples), channels, size, size, dtype=torch.uint8)
    labels = torch.tensor([c for _, c in samples], dtype=torch.int64)
    for i, (file, _) in enumerate(samples):
        try:
            with Image.open(file) as img:
                img = img.convert("RGB" if channels == 3 else "L")
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ValueError(f"cannot read image {file}: {exc}; remove or replace it") from None
        img = F.resize(img, resize, interpolation=InterpolationMode.BILINEAR, antialias=True)
        images[i] = F.pil_to_tensor(F.center_crop(img, size))
    return classes, Split(images, labels)


def _splits(root: Path, layout: str) -> tuple[Path, Path | None]:
    """Return ``(train folder, test folder)``; no test folder means a single folder."""
    if layout == "single":
        return root, None
    if (root / "train").is_dir():
        for name in ("test", "val"):
            if (root / name).is_dir():
                return root / "train", root / name
        raise ValueError(f"{root} has train/ but neither test/ nor val/: add one; {_LAYOUT}")
    if layout == "split":
        raise ValueError(f"{root} has no train/ folder (layout='split'); {_LAYOUT}")
    for name in ("test", "val"):
        if (root / name).is_dir():
            raise ValueError(
                f"{root} has {name}/ but no train/: add ROOT/train, or point the data root at "
                f"{root / name} to use its images for both splits; {_LAYOUT}"
            )
    return root, None


@register_dataset("imagefolder", "your images in torchvision's ImageFolder layout (--data-root)")
def imagefolder(
    *,
    root: str | Path | None = None,
    size: int = 224,
    resize: int | None = None,
    channels: int = 3,
    mean: Sequence[float] | float | str | None = "imagenet",
    std: Sequence[float] | float | str | None = "imagenet",
    layout: Literal["auto", "split", "single"] = "auto",
) -> Dataset:
    """Images read from ``root`` (see the module docstring for layout and transform).

    Args:
        root: the folder (``--data-root``).
        size: side of the square crop, in pixels.
        resize: the shorter side is resized to this before the crop (default ``size``;
            ImageNet's evaluation recipe is ``resize=256 size=224``).
        channels: 3 (RGB) or 1 (grayscale).
        mean: per-channel mean on the ``[0, 1]`` scale: ``"imagenet"``, ``None``, one number
            or one per channel.
        std: per-channel standard deviation, same forms.
        layout: ``"auto"`` (train/ and test/ or val/ when ``train/`` exists, else single),
            ``"split"`` or ``"single"``.

    Raises:
        ValueError: no root given, a folder without classes or images, train and test
            classes that differ, an unreadable image, or a bad option.
        FileNotFoundError: the root does not exist.

    """
    if root is None:
        raise ValueError("dataset 'imagefolder' reads images: pass root=... (--data-root DIR); "
                         + _LAYOUT)
    for key, value, low in (("size", size, 1), ("channels", channels, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"dataset 'imagefolder': option {key}={value!r} is not a positive "
                             f"integer (e.g. {key}={32 if key == 'size' else 3})")
    if channels not in (1, 3):
        raise ValueError(f"dataset 'imagefolder': option channels={channels} must be 1 "
                         "(grayscale) or 3 (RGB)")
    resize = size if resize is None else resize
    if not isinstance(resize, int) or isinstance(resize, bool) or resize < size:
        raise ValueError(f"dataset 'imagefolder': option resize={resize!r} must be an integer "
                         f">= size={size} (the crop is taken from the resized image)")
    if layout not in ("auto", "split", "single"):
        raise ValueError(f"dataset 'imagefolder': option layout={layout!r} is not one of "
                         "['auto', 'split', 'single']")
    stats = (_channels_stat("mean", mean, channels, IMAGENET_MEAN),
             _channels_stat("std", std, channels, IMAGENET_STD))
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist: check --data-root; "
                                + _LAYOUT)
    train_dir, test_dir = _splits(root, layout)
    classes, train = _read(train_dir, size=size, resize=resize, channels=channels)
    if test_dir is None and layout == "auto":
        warnings.warn(f"{root} has no train/ and test/ (or val/) folders: its images serve as "
                      "both the train and the test split", UserWarning, stacklevel=3)
    test = train
    if test_dir is not None:
        test_classes, test = _read(test_dir, size=size, resize=resize, channels=channels)
        if test_classes != classes:
            only_train = sorted(set(classes) - set(test_classes))
            only_test = sorted(set(test_classes) - set(classes))
            raise ValueError(
                f"{train_dir} and {test_dir} hold different classes (only in train: "
                f"{only_train}, only in {test_dir.name}: {only_test}): a class needs one "
                "index in both splits; give both folders the same class folders"
            )
    return Dataset(
        name="imagefolder",
        train=train,
        test=test,
        num_classes=len(classes),
        input_shape=(channels, size, size),
        mean=stats[0],
        std=stats[1],
        options={"size": size, "resize": resize, "channels": channels,
                 "mean": list(stats[0]) if stats[0] else None,
                 "std": list(stats[1]) if stats[1] else None,
                 "layout": "single" if test_dir is None else "split"},
    )

