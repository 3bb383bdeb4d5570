import pytest
import torch

from landscape.data import TrainLoader, get_dataset
from landscape.data.augment import random_crop, random_hflip


@pytest.fixture(scope="module")
def ds():
    return get_dataset("synthetic", input_shape=(3, 8, 8), num_train=50, num_test=10)


def _labels(loader, epoch, **kw):
    return [y.tolist() for _, y in loader.epoch(epoch, **kw)]


def test_order_depends_on_seed_and_epoch_only(ds):
    a = TrainLoader(ds, batch_size=8, seed=3)
    b = TrainLoader(ds, batch_size=8, seed=3)
    assert _labels(a, 0) == _labels(b, 0)
    assert torch.equal(a.order(1), b.order(1))
    assert not torch.equal(a.order(0), a.order(1))
    assert not torch.equal(a.order(0), TrainLoader(ds, batch_size=8, seed=4).order(0))
    assert sorted(a.order(2).tolist()) == list(range(50))


def test_resuming_mid_epoch_yields_the_same_remaining_batches(ds):
    loader = TrainLoader(ds, batch_size=8, seed=0, augment="crop_flip", padding=2)
    full = list(loader.epoch(1))
    tail = list(loader.epoch(1, start_batch=3))
    assert len(tail) == len(full) - 3
    for (x1, y1), (x2, y2) in zip(full[3:], tail):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_batch_count_and_drop_last(ds):
    assert len(TrainLoader(ds, batch_size=8, seed=0)) == 7
    loader = TrainLoader(ds, batch_size=8, seed=0, drop_last=True)
    assert len(loader) == 6 and all(len(y) == 8 for _, y in loader.epoch(0))


def test_bad_arguments(ds):
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        TrainLoader(ds, batch_size=0, seed=0)
    with pytest.raises(ValueError, match="augment must be"):
        TrainLoader(ds, batch_size=4, seed=0, augment="mixup")


def test_random_crop_is_a_shifted_window():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        windows = [padded[b, :, i : i + 5, j : j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)


def test_hflip_flips_with_probability_one():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    assert torch.equal(random_hflip(x, torch.Generator(), p=1.0), x.flip(-1))
    assert torch.equal(random_hflip(x, torch.Generator(), p=0.0), x)
