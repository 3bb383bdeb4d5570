import numpy as np
import pytest
import torch
from PIL import Image

from landscape.data import EvalSet, get_dataset
from landscape.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD


def _png(path, h, w, seed, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def _tree(root, split_counts, classes=("cat", "dog"), sizes=((10, 6), (6, 12), (8, 8))):
    seed = 0
    for split, n in split_counts.items():
        for c in classes:
            for i in range(n):
                h, w = sizes[(seed + i) % len(sizes)]
                _png(root / split / c / f"{i}.png", h, w, seed)
                seed += 1
    return root


def _reference(folder, size, resize):
    from torchvision import datasets, transforms

    t = transforms.Compose([transforms.Resize(resize, antialias=True),
                            transforms.CenterCrop(size), transforms.PILToTensor()])
    ref = datasets.ImageFolder(str(folder), transform=t)
    return torch.stack([x for x, _ in ref]), torch.tensor(ref.targets), ref.classes


def test_train_and_test_folders_match_torchvision_imagefolder(tmp_path):
    root = _tree(tmp_path / "imgs", {"train": 3, "test": 2})
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    ds = get_dataset("imagefolder", root=str(root), size=4, resize=5)
    assert (ds.num_classes, ds.input_shape) == (2, (3, 4, 4))
    assert (ds.mean, ds.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert ds.options == {"size": 4, "resize": 5, "channels": 3, "mean": list(IMAGENET_MEAN),
                          "std": list(IMAGENET_STD), "layout": "split"}
    for split in ("train", "test"):
        x, y, classes = _reference(root / split, 4, 5)
        part = ds.split(split)
        assert classes == ["cat", "dog"]
        # exact: the same PIL operations on the same files, in the same order
        assert part.images.dtype == torch.uint8 and torch.equal(part.images, x)
        assert torch.equal(part.labels, y)
    ev = EvalSet(ds, "test", batch_size=3, dtype=torch.float64)
    assert ev.batch_sizes == [3, 1]
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    expected = (ds.test.images.double() / 255 - mean) / std
    torch.testing.assert_close(ev.x, expected, rtol=1e-12, atol=1e-12)  # float64 rounding


def test_val_folder_grayscale_and_own_normalisation(tmp_path):
    root = tmp_path / "gray"
    for split, n in (("train", 2), ("val", 1)):
        for c in ("0", "1", "2"):
            for i in range(n):
                _png(root / split / c / f"{i}.png", 7, 9, i, mode="L")
    ds = get_dataset("imagefolder", root=root, size=5, channels=1, mean=0.5, std=[0.25])
    assert ds.input_shape == (1, 5, 5) and len(ds.train) == 6 and len(ds.test) == 3
    assert (ds.mean, ds.std) == ((0.5,), (0.25,))
    raw = get_dataset("imagefolder", root=root, size=5, channels=1, mean=None, std="none")
    assert raw.mean is None and raw.std is None
    assert torch.equal(raw.test.labels, torch.tensor([0, 1, 2]))


def test_a_single_folder_serves_both_splits_with_a_warning(tmp_path):
    root = tmp_path / "flat"
    for c in ("a", "b"):
        _png(root / c / "x.png", 6, 6, 1)
    with pytest.warns(UserWarning, match="serve as both the train and the test split"):
        ds = get_dataset("imagefolder", root=root, size=6)
    assert ds.train is ds.test and ds.options["layout"] == "single"
    explicit = get_dataset("imagefolder", root=root, size=6, layout="single")  # no warning
    assert explicit.digest() == ds.digest()


def test_missing_or_empty_folders_say_what_was_expected(tmp_path):
    layout = r"expected ROOT/train/CLASS/IMAGE and ROOT/test/CLASS/IMAGE"
    with pytest.raises(FileNotFoundError, match=rf"image folder .*nowhere' does not exist.*"
                                                rf"{layout}"):
        get_dataset("imagefolder", root=tmp_path / "nowhere", size=4)
    with pytest.raises(ValueError, match=rf"pass root=.*{layout}"):
        get_dataset("imagefolder", size=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=rf"empty holds no class folders: {layout}"):
        get_dataset("imagefolder", root=tmp_path / "empty", size=4)
    (tmp_path / "noimg" / "cat").mkdir(parents=True)
    (tmp_path / "noimg" / "cat" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=rf"noimg: .*no valid file for the classes cat.*{layout}"):
        get_dataset("imagefolder", root=tmp_path / "noimg", size=4, layout="single")
    _tree(tmp_path / "onlytrain", {"train": 1})
    with pytest.raises(ValueError, match=r"has train/ but neither test/ nor val/"):
        get_dataset("imagefolder", root=tmp_path / "onlytrain", size=4)
    _tree(tmp_path / "onlyval", {"val": 1})
    with pytest.raises(ValueError, match=r"has val/ but no train/: add ROOT/train, or point the "
                                         r"data root at .*onlyval/val"):
        get_dataset("imagefolder", root=tmp_path / "onlyval", size=4)


def test_differing_classes_and_unreadable_images_are_refused(tmp_path):
    root = _tree(tmp_path / "d", {"train": 1})
    _tree(root, {"test": 1}, classes=("cat", "cow"))
    with pytest.raises(ValueError, match=r"different classes \(only in train: \['dog'\], only in "
                                         r"test: \['cow'\]\)"):
        get_dataset("imagefolder", root=root, size=4)
    bad = _tree(tmp_path / "b", {"train": 1, "test": 1})
    (bad / "test" / "cat" / "0.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"cannot read image .*test/cat/0\.png.*remove or "
                                         r"replace it"):
        get_dataset("imagefolder", root=bad, size=4)


def test_bad_options_are_named(tmp_path):
    root = _tree(tmp_path / "o", {"train": 1, "test": 1})
    cases = [
        ({"size": "big"}, r"option size='big' is not a positive integer"),
        ({"channels": 2}, r"option channels=2 must be 1 \(grayscale\) or 3"),
        ({"channels": 1}, r"ImageNet's mean has 3 channels but channels=1: pass mean=VALUE"),
        ({"mean": [0.5, 0.5]}, r"option mean=\[0\.5, 0\.5\] is not 'imagenet', none, or 1 or 3"),
        ({"std": 0}, r"option std=0 must be positive"),
        ({"resize": 2}, r"option resize=2 must be an integer >= size=4"),
        ({"layout": "flat"}, r"option layout='flat' is not one of"),
        ({"colour": "red"}, r"dataset 'imagefolder'.*colour"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            get_dataset("imagefolder", root=root, **{"size": 4, **options})
