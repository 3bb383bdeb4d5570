import json

import pytest

from landscape.cli import main
from landscape.experiment.runs import find_runs
from landscape.plotting import plot_tradeoff
from landscape.pruning import compare_at, format_table, method_of, tradeoff_points
from landscape.rundir import RunDir
from landscape.store import Store

RUNS = {
    # name: (config, [(sparsity, test_acc) per epoch 1..])
    "grda_c0.001_mu0.51": ({"optimizer": "grda", "optimizer_args": {"c": 0.001, "mu": 0.51}},
                           [(0.5, 0.90), (0.91, 0.95)]),
    "grda_c0.005_mu0.51": ({"optimizer": "grda", "optimizer_args": {"c": 0.005, "mu": 0.51}},
                           [(0.97, 0.93)]),
    "mag90/sgd_m0.9_magnitude": ({"optimizer": "sgd", "prune": "magnitude",
                                  "prune_args": {"target_sparsity": 0.9}}, [(0.899, 0.96)]),
    "mag50/sgd_m0.9_magnitude": ({"optimizer": "sgd", "prune": "magnitude",
                                  "prune_args": {"target_sparsity": 0.5}}, [(0.499, 0.97)]),
    "rnd90/sgd_m0.9_random": ({"optimizer": "sgd", "prune": "random",
                               "prune_args": {"target_sparsity": 0.9, "seed": 1}},
                              [(0.899, 0.80)]),
    "sm10/sgd_m0.9_sparse-momentum": ({"optimizer": "sgd", "prune": "sparse-momentum",
                                       "prune_args": {"density": 0.1}}, [(0.898, 0.955)]),
    "sgd_m0.9": ({"optimizer": "sgd"}, [(0.0, 0.97)]),
    "unfinished": ({"optimizer": "sgd"}, []),
}


@pytest.fixture
def runs(tmp_path):
    for name, (config, rows) in RUNS.items():
        run = RunDir(tmp_path / "out" / name)
        run.path.mkdir(parents=True)
        run.write_config({"seed": 0, **config})
        metrics = [{"epoch": 0, "test_acc": 0.1, "sparsity": {"global": 0.0}}]
        metrics += [{"epoch": e + 1, "test_acc": acc, "sparsity": {"global": s}}
                    for e, (s, acc) in enumerate(rows)]
        run.write_metrics(metrics)
    return tmp_path / "out"


def test_method_of():
    assert method_of(RUNS["mag90/sgd_m0.9_magnitude"][0]) == ("magnitude", "target=0.9")
    assert method_of(RUNS["sgd_m0.9"][0]) == ("sgd", "dense")
    assert method_of({"optimizer": "grda", "optimizer_args": {"c": 0.001, "mu": 0.6},
                      "prune": "random", "prune_args": {"density": 0.2}}) \
        == ("random", "density=0.2 (grda)")
    assert method_of({"optimizer": "sgd", "prune": "magnitude", "prune_args": {"seed": 2}}) \
        == ("magnitude", "seed=2")


def test_points_table_and_compare(runs):
    points = tradeoff_points(find_runs([runs]))
    assert [p.method for p in points] == ["grda", "grda", "magnitude", "magnitude",
                                          "sparse-momentum", "random", "sgd"]
    assert [p.sparsity for p in points][:2] == [0.91, 0.97]    # last epoch of each run
    assert points[0].test_acc == 0.95 and points[0].epoch == 2
    assert all("unfinished" not in p.run for p in points)
    best = compare_at(points, 0.9, tolerance=0.02)
    assert {m: p.test_acc for m, p in best.items()} == {
        "grda": 0.95, "magnitude": 0.96, "sparse-momentum": 0.955, "random": 0.80}
    table = format_table(points).splitlines()
    assert table[0].split()[:3] == ["method", "setting", "sparsity"]
    assert any(line.startswith("random") and "89.90" in line and "80.00" in line
               for line in table)
    # a run itself, and the same run twice, count once
    one = tradeoff_points(find_runs([runs / "sgd_m0.9", runs / "sgd_m0.9"]))
    assert len(one) == 1 and one[0].setting == "dense"


def test_find_runs_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_runs([tmp_path / "nope"])
    with pytest.raises(FileNotFoundError, match="holds no run directory"):
        find_runs([tmp_path])


def test_reading_a_folder_that_is_not_a_run_is_refused(runs):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        tradeoff_points([runs])


def test_plot(runs, tmp_path):
    points = tradeoff_points(find_runs([runs]))
    fig = plot_tradeoff(points, tmp_path / "f.png", title="t")
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["grda", "magnitude", "sparse-momentum", "random", "sgd (dense)"]
    mag = next(line for line in ax.get_lines() if line.get_label() == "magnitude")
    assert list(mag.get_xdata()) == pytest.approx([49.9, 89.9])
    assert (tmp_path / "f.png").stat().st_size > 1000
    plot_tradeoff([p.to_dict() for p in points])
    with pytest.raises(ValueError, match="no runs to plot"):
        plot_tradeoff([])


def test_cli(runs, tmp_path, capsys):
    fig = tmp_path / "figs" / "tradeoff.png"
    assert main(["tradeoff", str(runs), "--figures", str(fig.parent), "--at", "0.9",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["points"]) == 7 and out["figures"] == [str(fig)] and fig.is_file()
    assert out["at"]["best"]["random"]["test_acc"] == 0.8
    assert main(["tradeoff", str(runs), "--at", "0.9"]) == 0
    text = capsys.readouterr().out
    assert "best test accuracy at sparsity 90%" in text
    lines = text.split("best test accuracy")[1].splitlines()[1:]
    assert [line.split()[0] for line in lines if line.strip()] == [
        "magnitude", "sparse-momentum", "grda", "random"]
    assert main(["tradeoff", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["tradeoff", str(runs / "unfinished")]) == 2
    assert "has a finished epoch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # a percentage, not a fraction
        main(["tradeoff", str(runs), "--at", "90"])
    assert exc.value.code == 2 and "expected a fraction in [0, 1]" in capsys.readouterr().err


def test_cli_on_every_entry_of_an_experiment_directory(runs, capsys):
    """`landscape tradeoff runs/*` on the --out of train, which holds the store beside runs."""
    Store(runs / "store").get_or_compute("demo", {}, None, lambda: {"x": 1})
    assert main(["tradeoff", *map(str, sorted(runs.iterdir())), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["points"]) == 7 and out["figures"] == []
