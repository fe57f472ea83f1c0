"""``smm-bench compare`` on test scenarios built from real LightGBM CVBoosters (conftest)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from smm_bench_plugin import Benchmark
from smm_bench_plugin.cli import main as cli_main
from smm_bench_plugin.compare import compare, write_outputs
from smm_bench_plugin.optimizers import ArraySpace, BudgetExhausted, Evaluator, default_optimizers

PS_DEFAULT = ["random", "cmaes", "sepcma", "tpe", "de"]


def test_every_ps_optimizer_uses_exactly_the_budget_and_is_seeded(ps_scenario):
    a = compare(ps_scenario, budget=37, seeds=2)  # 37: not a multiple of any batch size
    b = compare(ps_scenario, budget=37, seeds=[1])
    assert a.optimizers() == PS_DEFAULT
    for run in a.runs:
        assert run.objective.shape == (37,) and np.isfinite(run.objective).all() and np.isfinite(run.test).all()
        assert run.best_objective == run.objective.max()
        assert run.test_at_best == run.test[int(np.argmax(run.objective))]
        assert 0 <= run.benchmark_seconds <= run.wall_seconds
    for name in PS_DEFAULT:
        s0, s1 = (r for r in a.runs if r.optimizer == name)
        (again,) = (r for r in b.runs if r.optimizer == name)
        assert np.array_equal(s1.objective, again.objective), f"{name} is not reproducible from its seed"
        assert not np.array_equal(s0.objective, s1.objective), f"{name} ignores its seed"


def test_each_run_records_the_configuration_it_found(ps_scenario, dfs_scenario):
    """``best_config`` is the configuration behind ``best_objective``: evaluating it again gives the
    run's best objective and its test value, so a user can deploy or check what the run found."""
    for path in (ps_scenario, dfs_scenario):
        bench = Benchmark(path)
        for run in compare(bench, budget=37, seeds=[0]).runs:
            again = bench.evaluate(run.best_config)[0]
            assert again[bench.objective_name] == run.best_objective, run.optimizer
            assert again[bench.test_name] == run.test_at_best, run.optimizer


def test_trajectory_values_are_the_benchmark_predictions(ps_scenario):
    """Random search with seed 0 draws rows we can regenerate: the recorded values must be the
    scenario's predictions for them (objective and test columns, not swapped)."""
    from smm_bench_plugin.optimizers import RANDOM_BATCH

    bench = Benchmark(ps_scenario)
    (run,) = compare(bench, ["random"], budget=10, seeds=[0]).runs
    rng = np.random.default_rng(0)
    space = ArraySpace.of(bench)
    x_cat = rng.integers(1, space.levels + 1, size=(RANDOM_BATCH, 0)).astype(np.int32)
    x_cont = rng.uniform(space.lower, space.upper, size=(RANDOM_BATCH, 64))
    want = bench.evaluate_array(x_cat[:10], x_cont[:10])
    assert np.array_equal(run.objective, want[:, bench.target_names.index(bench.objective_name)])
    assert np.array_equal(run.test, want[:, bench.target_names.index(bench.test_name)])


def test_evaluator_truncates_the_last_batch_and_stops(ps_scenario):
    bench = Benchmark(ps_scenario)
    seen = []
    ev = Evaluator(bench, 5, on_progress=seen.append)
    x_cont = np.random.default_rng(3).random((4, 64))
    ev(np.zeros((4, 0), np.int32), x_cont)
    with pytest.raises(BudgetExhausted):
        ev(np.zeros((4, 0), np.int32), x_cont)
    assert ev.n == 5 and seen == [4, 1] and np.isfinite(ev.objective).all()
    with pytest.raises(BudgetExhausted):
        ev(np.zeros((4, 0), np.int32), x_cont)
    assert ev.n == 5


def test_dfs_defaults_native_and_relaxed_encodings(dfs_scenario):
    bench = Benchmark(dfs_scenario)
    space = ArraySpace.of(bench)
    assert default_optimizers(space) == ["random", "catcma", "tpe", "de"]
    result = compare(bench, ["catcma", "tpe", "de", "cmaes"], budget=24, seeds=1)
    enc = {k: v["encoding"] for k, v in result.summary()["optimizers"].items()}
    assert enc == {"catcma": "native", "tpe": "native", "de": "relaxed", "cmaes": "relaxed"}
    assert all(len(r.objective) == 24 for r in result.runs)


def test_relaxed_decoding_covers_every_choice_and_stays_in_bounds(dfs_scenario):
    space = ArraySpace.of(Benchmark(dfs_scenario))
    u = np.vstack([np.zeros(95), np.full(95, 1 / 3 - 1e-12), np.full(95, 0.5), np.ones(95), np.full(95, 2.0)])
    x_cat, x_cont = space.relaxed_decode(u)
    assert x_cat[:, 0].tolist() == [1, 1, 2, 3, 3]
    assert x_cat.dtype == np.int32 and x_cont.min() >= 0.4 and x_cont.max() <= 1.5
    Benchmark(dfs_scenario).evaluate_array(x_cat, x_cont)  # accepted by the runtime's validation


def test_inapplicable_or_unknown_optimizers_fail_before_running(ps_scenario):
    with pytest.raises(ValueError, match="catcma needs categorical"):
        compare(ps_scenario, ["random", "catcma"], budget=5, seeds=1)
    with pytest.raises(ValueError, match="unknown optimizer 'bogus'; available: random, cmaes"):
        compare(ps_scenario, ["bogus"], budget=5, seeds=1)
    with pytest.raises(ValueError, match="budget must be a positive integer, got 0"):
        compare(ps_scenario, ["random"], budget=0, seeds=1)


def test_python_api_arguments(ps_scenario):
    """compare() takes what the command line takes, numpy integers included, and refuses the rest clearly."""
    a = compare(ps_scenario, "random, sepcma", budget=np.int64(6), seeds=np.int64(2))
    assert a.optimizers() == ["random", "sepcma"] and a.budget == 6 and a.seeds == [0, 1]
    b = compare(ps_scenario, ["random"], budget=6, seeds=[np.int32(3)])
    assert b.seeds == [3]
    for kwargs, exc, pattern in [({"budget": True}, TypeError, "budget must be a positive integer, got True"),
                                 ({"budget": 5.0}, TypeError, r"budget must be a positive integer, got 5.0 \(float\)"),
                                 ({"seeds": [0, 0]}, ValueError, "seed is listed twice"),
                                 ({"seeds": []}, ValueError, "at least one seed"),
                                 ({"seeds": [0.5]}, TypeError, "0.5 is not an integer seed"),
                                 ({"seeds": "3"}, TypeError, "seeds must be a number of seeds"),
                                 ({"jobs": 0}, ValueError, r"jobs must be a positive integer or None \(one process")]:
        with pytest.raises(exc, match=pattern):
            compare(ps_scenario, ["random"], **{"budget": 5, "seeds": 1, **kwargs})


def test_output_problems_are_found_before_any_run(ps_scenario, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc = cli_main(["compare", "--scenario", str(ps_scenario), "--budget", "5", "--seeds", "1", "--jobs", "1",
                   "--optimizers", "random", "--out", str(blocker), "--quiet"])
    assert rc == 1 and "exists and is not a folder" in capsys.readouterr().err
    import smm_bench_plugin.compare as C

    ran = []
    monkeypatch.setattr(C, "compare", lambda *a, **k: ran.append(1))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the [compare] extra were missing
    rc = cli_main(["compare", "--scenario", str(ps_scenario), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and not ran and "needs matplotlib" in err and "--no-plot" in err


def test_a_rerun_into_the_same_folder_needs_force_and_leaves_no_stale_outputs(ps_scenario, tmp_path, capsys):
    out = tmp_path / "cmp"
    common = ["compare", "--scenario", str(ps_scenario), "--budget", "6", "--seeds", "1", "--jobs", "1",
              "--optimizers", "random", "--out", str(out), "--quiet"]
    assert cli_main(common) == 0 and (out / "best_so_far.png").is_file()
    capsys.readouterr()
    before = (out / "summary.json").read_text()
    assert cli_main(common + ["--budget", "7"]) == 1  # refused before any run: the results stay
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "--force" in err and "summary.json" in err
    assert (out / "summary.json").read_text() == before
    assert cli_main(common + ["--no-plot", "--format", "parquet", "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["best_configs.json", "summary.json", "table.md",
                                                     "trajectories.parquet"]


def test_cli_writes_table_png_trajectories_and_time_split(ps_scenario, tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = cli_main(["compare", "--scenario", str(ps_scenario), "--budget", "16", "--seeds", "2", "--jobs", "1",
                   "--optimizers", "random,sepcma,de", "--out", str(out), "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    for name in ("random", "sepcma", "de", "best objective", "test at best", "benchmark"):
        assert name in printed
    with open(out / "trajectories.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 16
    assert rows[0].keys() == {"optimizer", "seed", "evaluation", "objective", "test", "best_objective",
                              "test_at_best"}
    sep = [r for r in rows if r["optimizer"] == "sepcma" and r["seed"] == "1"]
    best = np.maximum.accumulate([float(r["objective"]) for r in sep])
    assert np.array_equal(best, [float(r["best_objective"]) for r in sep])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 96 and 0 < summary["benchmark_share"] < 1
    # each run's best configuration: evaluating it again gives the trajectory's final best
    finalists = json.loads((out / "best_configs.json").read_text())["runs"]
    assert [(f["optimizer"], f["seed"]) for f in finalists] == [(n, s) for n in ("random", "sepcma", "de") for s in (0, 1)]
    bench = Benchmark(ps_scenario)
    for f in finalists:
        last = [r for r in rows if r["optimizer"] == f["optimizer"] and r["seed"] == str(f["seed"])][-1]
        assert bench.objective(f["config"]) == pytest.approx(float(last["best_objective"]), abs=1e-12)
        hit = [r for r in rows if r["optimizer"] == f["optimizer"] and r["seed"] == str(f["seed"])][f["evaluation"] - 1]
        assert float(hit["objective"]) == pytest.approx(f["best_objective"], abs=1e-12)
    from smm_bench_plugin.blas import blas_kernel, cpu_model  # CMA-ES paths depend on both: recorded with versions
    assert summary["library_versions"].get("blas") == blas_kernel()
    assert summary["library_versions"]["cpu"] == cpu_model() and cpu_model()
    assert summary["benchmark_seconds_total"] + summary["optimizer_seconds_total"] == pytest.approx(
        summary["run_seconds_total"])
    assert (out / "best_so_far.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the headline figures are the trajectories' last best and its test score, mean ± sample std over seeds
    table = (out / "table.md").read_text()
    for name in ("random", "sepcma", "de"):
        last = [r for r in rows if r["optimizer"] == name and r["evaluation"] == "16"]
        best = np.array([float(r["best_objective"]) for r in last])
        test = np.array([float(r["test_at_best"]) for r in last])
        s = summary["optimizers"][name]
        assert s["best_objective_mean"] == pytest.approx(best.mean(), abs=1e-15)
        assert s["best_objective_std"] == pytest.approx(best.std(ddof=1), abs=1e-15)
        assert s["test_at_best_mean"] == pytest.approx(test.mean(), abs=1e-15)
        assert s["test_at_best_std"] == pytest.approx(test.std(ddof=1), abs=1e-15)
        assert (f"| {name} | {best.mean():.4f} ± {best.std(ddof=1):.4f} | {test.mean():.4f} ± "
                f"{test.std(ddof=1):.4f} |") in table
        best_row = max((r for r in rows if r["optimizer"] == name and r["seed"] == "0"),
                       key=lambda r: float(r["objective"]))  # test at best: the test score of that row
        assert float(last[0]["test_at_best"]) == float(best_row["test"])


def test_parquet_trajectories(ps_scenario, tmp_path):
    import pyarrow.parquet as pq

    result = compare(ps_scenario, ["random"], budget=7, seeds=2)
    paths = write_outputs(result, tmp_path, fmt="parquet", plot=False)
    table = pq.read_table(paths["trajectories"]).to_pydict()
    assert table["optimizer"] == ["random"] * 14 and table["evaluation"][:7] == list(range(1, 8))
    assert "plot" not in paths


def test_missing_scenario_is_a_clear_error(tmp_path, capsys):
    rc = cli_main(["compare", "--scenario", "smm_nope", "--budget", "5", "--seeds", "1", "--out", str(tmp_path / "o"),
                   "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "smm_nope" in err and "available:" in err and "smm_ps_mini" in err and "--scenario" in err


def test_bad_jobs_and_blas_kernel_are_errors_naming_the_option(tmp_path, capsys):
    assert cli_main(["compare", "--jobs", "-1", "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --jobs must be 0 (one process per core") and "got -1" in err and "None" not in err
    assert not (tmp_path / "o").exists()


def test_default_compare_runs_on_the_bundled_scenario(tmp_path):
    """`smm-bench compare` with no --scenario works out of the box on the bundled smm_ps_mini."""
    out = tmp_path / "o"
    assert cli_main(["compare", "--optimizers", "random,sepcma", "--budget", "40", "--seeds", "2", "--jobs", "1",
                     "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "smm_ps_mini" and summary["evaluations"] == 2 * 2 * 40
    for name in ("random", "sepcma"):
        assert 0.0 <= summary["optimizers"][name]["best_objective_mean"] <= 1.0


def test_compare_module_does_not_import_optimizer_libraries():
    code = ("import sys, smm_bench_plugin.compare, smm_bench_plugin.cli; "
            "print([m for m in ('optuna', 'cmaes', 'scipy', 'matplotlib', 'pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_parallel_runs_give_the_same_trajectories(ps_scenario):
    one = compare(ps_scenario, ["random", "sepcma", "tpe"], budget=12, seeds=2, jobs=1)
    two = compare(ps_scenario, ["random", "sepcma", "tpe"], budget=12, seeds=2, jobs=2)
    assert two.jobs == 2 and two.summary()["jobs"] == 2
    assert [(r.optimizer, r.seed) for r in one.runs] == [(r.optimizer, r.seed) for r in two.runs]
    for a, b in zip(one.runs, two.runs):
        assert np.array_equal(a.objective, b.objective) and np.array_equal(a.test, b.test)


class _Recorder:
    """The scenario, with the row count of every evaluate_array call written down."""

    def __init__(self, bench: Benchmark) -> None:
        self._bench, self.calls = bench, []

    def __getattr__(self, name):
        return getattr(self._bench, name)

    def evaluate_array(self, x_cat, x_cont):
        self.calls.append(len(x_cont))
        return self._bench.evaluate_array(x_cat, x_cont)


@pytest.mark.parametrize("space, name, batch", [
    ("ps", "random", 256), ("ps", "cmaes", 16), ("ps", "sepcma", 16), ("ps", "tpe", 8), ("ps", "de", 64),
    ("dfs", "random", 256), ("dfs", "catcma", None), ("dfs", "tpe", 8), ("dfs", "de", 95)])
def test_each_batch_is_one_call_of_the_documented_size(ps_scenario, dfs_scenario, space, name, batch, monkeypatch):
    """docs/compare.md: a batch (a CMA generation, a DE population: 64 on PS, 95 on DFS; 8 TPE trials;
    256 random draws) is one evaluate_array call, and TPE runs with its pinned settings."""
    from smm_bench_plugin.optimizers import OPTIMIZERS

    settings = []
    if name == "tpe":
        import optuna

        real = optuna.samplers.TPESampler
        monkeypatch.setattr(optuna.samplers, "TPESampler", lambda **kw: settings.append(kw) or real(**kw))
    bench = _Recorder(Benchmark(ps_scenario if space == "ps" else dfs_scenario))
    budget = 600 if name == "random" else 200
    ev = Evaluator(bench, budget)
    with pytest.raises(BudgetExhausted):
        OPTIMIZERS[name](ArraySpace.of(bench._bench), ev, 0)
    assert sum(bench.calls) == budget and ev.n == budget
    full = bench.calls[:-1]  # the last call is cut by the budget
    if batch is None:  # CatCMA: its own population size, the same every generation
        batch = full[0]
    assert full and set(full) == {batch} and bench.calls[-1] <= batch
    if name == "tpe":
        assert settings == [{"seed": 0, "n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": True,
                             "group": False, "constant_liar": False}]


def test_the_default_configuration_is_a_reference_line_and_labels_match_the_table(dfs_scenario, tmp_path,
                                                                                monkeypatch):
    """The plot's legend names an optimiser as the table does ("de (relaxed)"), and the default
    configuration's surrogate values are drawn as a line and printed under the table."""
    from matplotlib.figure import Figure

    bench = Benchmark(dfs_scenario)
    default = bench.evaluate(dict(bench.configspace.get_default_configuration()))[0]
    result = compare(dfs_scenario, ["random", "de"], budget=12, seeds=1)
    figures = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (figures.append(fig), save(fig, *a, **k))[1])
    paths = write_outputs(result, tmp_path)
    summary = json.loads(paths["summary"].read_text())
    assert summary["default_configuration"] == {"objective": default[bench.objective_name],
                                                "test": default[bench.test_name]}
    table = paths["table"].read_text()
    assert "| de (relaxed) |" in table
    assert f"Default configuration (every hyperparameter at its default): objective " \
           f"{default[bench.objective_name]:.4f}, test {default[bench.test_name]:.4f}." in table
    objective_axes, test_axes = figures[0].axes
    assert [t.get_text() for t in objective_axes.get_legend().get_texts()] == \
        ["random", "de (relaxed)", "default configuration"]
    for ax, value in ((objective_axes, default[bench.objective_name]), (test_axes, default[bench.test_name])):
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "default configuration"]
        assert list(line.get_ydata()) == [value, value]
