import pytest
import train_helpers  # noqa: F401  (registers the test sparsifiers)

from landscape.train import (
    Sparsifier,
    TrainConfig,
    create_sparsifier,
    list_sparsifiers,
    register_sparsifier,
    run_name,
)

BASE = {"model": "mlp", "dataset": "synthetic", "optimizer": "sgd", "lr": 0.1}


def test_round_trip_and_names():
    cfg = TrainConfig(**BASE, optimizer_args={"momentum": 0.9, "nesterov": True},
                      weight_decay=5e-4)
    assert TrainConfig.from_dict({**cfg.to_dict(), "run_name": "x"}) == cfg
    assert run_name(cfg) == "sgd_m0.9_nesterov_wd0.0005"
    grda = TrainConfig(**{**BASE, "optimizer": "grda"})
    assert run_name(grda) == "grda_c0.005_mu0.51"          # the class defaults
    assert run_name(grda, extra=("lr", "seed")) == "grda_c0.005_mu0.51_lr0.1_seed0"


@pytest.mark.parametrize(
    ("prune", "args", "name"),
    [
        ("magnitude", {"target_sparsity": 0.9}, "sgd_m0.9_magnitude_s0.9"),
        ("magnitude", {"target_sparsity": 0.95, "scope": "global"}, "sgd_m0.9_magnitude_s0.95"),
        ("random", {"density": 0.05, "seed": 2}, "sgd_m0.9_random_d0.05"),
        ("sparse-momentum", {"density": 0.1}, "sgd_m0.9_sparse-momentum_d0.1"),
        ("test-mask", {}, "sgd_m0.9_test-mask"),        # a sparsifier without a target
    ],
)
def test_run_name_says_the_sparsifier_target(prune, args, name):
    cfg = TrainConfig(**BASE, optimizer_args={"momentum": 0.9}, prune=prune, prune_args=args)
    assert run_name(cfg) == name


def test_run_names_differ_by_target():
    names = {run_name(TrainConfig(**BASE, prune=prune, prune_args={key: value}))
             for prune in ("magnitude", "random", "sparse-momentum")
             for key in ("target_sparsity", "density") for value in (0.1, 0.5, 0.9)}
    assert len(names) == 3 * 2 * 3


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'; choose one of"),
        ({"schedule": "poly"}, "unknown schedule 'poly'"),
        ({"epochs": -1}, "epochs must be an integer >= 0, got -1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"lr": 0.0}, "lr must be a positive finite number, got 0.0"),
        ({"l2": 0.1, "weight_decay": 0.1}, "got both l2=0.1 and weight_decay=0.1"),
        ({"dtype": "float16"}, "dtype must be one of"),
    ],
)
def test_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{**BASE, **kw})


def test_sparsifier_registry_errors():
    assert {"test-mask", "test-poison"} <= set(list_sparsifiers())
    with pytest.raises(ValueError, match="registered twice"):
        register_sparsifier("dup-test", "x")(lambda: None)
        register_sparsifier("dup-test", "x")(lambda: None)
    register_sparsifier("not-a-sparsifier", "x")(lambda: object())
    with pytest.raises(TypeError, match="lacks the Sparsifier methods"):
        create_sparsifier("not-a-sparsifier")

    class Minimal:
        def __init__(self, k):
            self.k = k

        def bind(self, model, optimizer, steps_per_epoch, epochs): ...
        def after_step(self, step): ...
        def on_epoch_end(self, epoch): ...
        def state_dict(self):
            return {}

        def load_state_dict(self, state): ...

    register_sparsifier("minimal-test", "x")(Minimal)
    s = create_sparsifier("minimal-test", k=2)
    assert isinstance(s, Sparsifier) and s.k == 2
    with pytest.raises(ValueError, match="sparsifier 'minimal-test'.*unexpected keyword"):
        create_sparsifier("minimal-test", j=2)


def test_default_seed_reaches_only_builders_that_take_one():
    class Seeded:
        def __init__(self, *, density=0.5, seed=0):
            self.seed = seed

        def bind(self, model, optimizer, steps_per_epoch, epochs): ...
        def after_step(self, step): ...
        def on_epoch_end(self, epoch): ...
        def state_dict(self):
            return {}

        def load_state_dict(self, state): ...

    if "seeded-test" not in list_sparsifiers():
        register_sparsifier("seeded-test", "x")(Seeded)
    assert create_sparsifier("seeded-test").seed == 0
    assert create_sparsifier("seeded-test", default_seed=7).seed == 7
    assert create_sparsifier("seeded-test", default_seed=7, seed=1).seed == 1   # explicit wins
    assert create_sparsifier("test-mask", default_seed=7, k=2).k == 2           # takes no seed
