import math

import pytest

from landscape.optim import create_schedule, list_schedules


def test_names():
    assert list_schedules() == ["constant", "cosine", "drop", "garipov", "step"]


def test_constant_and_step():
    s = create_schedule("constant", base_lr=0.3, epochs=5)
    assert [s(e) for e in range(5)] == [0.3] * 5
    # Yaguchi et al. 2018: x0.5 every 25 epochs
    s = create_schedule("step", base_lr=1.0, epochs=100, step_size=25, gamma=0.5)
    assert [s(e) for e in (0, 24, 25, 49, 50, 99)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_garipov_matches_the_reference_code():
    # Garipov et al.'s learning_rate_schedule (dnn-mode-connectivity/train.py)
    def ref(base, epoch, total):
        alpha = epoch / total
        if alpha <= 0.5:
            factor = 1.0
        elif alpha <= 0.9:
            factor = 1.0 - (alpha - 0.5) / 0.4 * 0.99
        else:
            factor = 0.01
        return factor * base

    s = create_schedule("garipov", base_lr=0.05, epochs=40)
    for e in range(40):
        assert s(e) == pytest.approx(ref(0.05, e, 40), rel=1e-12)
    assert s(0.25 * 40) == 0.05 and s(0.95 * 40) == pytest.approx(0.0005)
    lrs = [s(e) for e in range(40)]
    assert lrs == sorted(lrs, reverse=True)


def test_drop_and_cosine():
    s = create_schedule("drop", base_lr=0.1, epochs=10, at=6, factor=0.1)
    assert [s(e) for e in (0, 5, 5.99)] == [0.1] * 3
    assert s(6) == pytest.approx(0.01) and s(9) == pytest.approx(0.01)
    c = create_schedule("cosine", base_lr=1.0, epochs=8, eta_min=0.1)
    assert c(0) == 1.0 and c(8) == pytest.approx(0.1)
    assert c(4) == pytest.approx(0.1 + 0.9 * 0.5)
    assert c(2) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)


def test_fractional_epochs():
    s = create_schedule("garipov", base_lr=1.0, epochs=10)
    assert s(6.5) == pytest.approx(1 - 0.99 * 1.5 / 4)


@pytest.mark.parametrize(
    ("name", "kw", "match"),
    [
        ("linear", {}, "unknown schedule 'linear'; choose one of: constant"),
        ("drop", {}, "needs the epoch of the drop: pass at=EPOCH"),
        ("step", {"gamma": -1}, "gamma must be a positive number, got -1"),
        ("step", {"milestones": [3]}, r"has no option\(s\) \['milestones'\]"),
        ("constant", {"base_lr": 0}, "base_lr must be a positive number, got 0"),
        ("constant", {"epochs": 0}, "epochs must be a positive integer, got 0"),
        ("cosine", {"eta_min": 5.0}, r"eta_min must be in \[0, base_lr"),
    ],
)
def test_errors(name, kw, match):
    args = {"base_lr": 0.1, "epochs": 10, **kw}
    with pytest.raises(ValueError, match=match):
        create_schedule(name, **args)


def test_negative_epoch_rejected():
    with pytest.raises(ValueError, match="epoch must be a number >= 0, got -1"):
        create_schedule("constant", base_lr=0.1, epochs=3)(-1)
