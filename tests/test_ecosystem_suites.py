"""carps, hpoglue/hposuite and SMAC3 with their own objects, on test scenarios.

These suites need ConfigSpace >= 1 and hpoglue pins pandas < 3, so they live in a venv of their
own: ``.ci/run`` creates it and passes its interpreter in ``SMM_BENCH_ECO_PYTHON``; locally
``.venv-eco`` in the checkout is used (``python3 -m venv .venv-eco && .venv-eco/bin/pip install
-e ".[carps,hposuite,smac]"``). Scenarios are built here (main env, real LightGBM CVBoosters)
and read there through SMM_BENCH_DATA_DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import dfs_inputs, side_venv_python, synthetic_target, train_cv

from smm_bench_plugin import Benchmark
from smm_bench_plugin.importer import import_lightgbm
from smm_bench_plugin.scenario import Target

REPO = Path(__file__).resolve().parents[1]


def _eco_python() -> str:
    return side_venv_python("SMM_BENCH_ECO_PYTHON", ".venv-eco", "carps,hposuite,smac")


def _run(args: list[str], data_dir: Path, cwd: Path, timeout: int = 600, stdin: str | None = None) -> str:
    env = dict(os.environ, SMM_BENCH_DATA_DIR=str(data_dir), HOME=str(cwd), OMP_NUM_THREADS="1",
               MPLBACKEND="Agg")
    proc = subprocess.run([_eco_python(), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, input=stdin)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    return proc.stdout


@pytest.fixture
def scenarios(authors_ps, isolated_data_dir) -> dict[str, Path]:
    """PS scenario ``smm_ps_t`` and a DFS scenario ``dfs_cost_t`` with a cost target."""
    from smm_bench_surrogates.export import export_cv_boosters

    ps = import_lightgbm(authors_ps, "ps", name="smm_ps_t")
    rng = np.random.default_rng(9)
    X = dfs_inputs(rng, 800)
    models = [(Target("acc", "objective", 0.0, 1.0), train_cv(X, synthetic_target(X, rng) - 0.3, rounds=6)),
              (Target("acc_test", "test", 0.0, 1.0), train_cv(X, synthetic_target(X, rng) - 0.35, rounds=6)),
              (Target("sec", "cost", 0.0, float("inf"), "minimize"), train_cv(X, 50 + 20 * X[:, 40], rounds=6))]
    dfs = export_cv_boosters(isolated_data_dir / "scenarios" / "dfs_cost_t", name="dfs_cost_t", space="dfs",
                             models=models)
    return {"ps": ps, "dfs": dfs}


@pytest.mark.parametrize("task,scenario", [("ps_mini", "ps"), ("dfs_mini", "dfs")])
def test_carps_run_random_search_on_the_shipped_task(scenarios, isolated_data_dir, tmp_path, task, scenario):
    name = scenarios[scenario].name
    _run(["-m", "carps.run", "hydra.searchpath=[pkg://smm_bench_plugin/configs]", f"+task/SMMBench={task}",
          "+optimizer/randomsearch=config", f"smm_scenario={name}", "task.optimization_resources.n_trials=12",
          f"baserundir={tmp_path / 'runs'}", "seed=4"], isolated_data_dir, tmp_path)
    (log,) = (tmp_path / "runs").rglob("trial_logs.jsonl")
    assert f"/SMMBench/smm_bench/{scenario}/{name}/4/" in str(log)
    trials = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(trials) == 12
    bench = Benchmark(scenarios[scenario])
    names = list(bench.configspace.keys())  # carps logs a trial's config as its values in this order
    for t in trials:
        info = t["trial_value"]["additional_info"]
        assert set(info) == set(bench.target_names)
        assert t["trial_value"]["cost"] == 1.0 - info[bench.objective_name]  # carps minimises
        config = dict(zip(names, t["trial_info"]["config"], strict=True))
        want = bench.evaluate(config)[0]  # the logged config's own prediction (carps logs 13 digits)
        assert all(abs(info[k] - want[k]) < 1e-9 for k in want), (config, info, want)
    if scenario == "dfs":
        assert all(t["trial_value"]["virtual_time"] == t["trial_value"]["additional_info"]["sec"] for t in trials)


def test_carps_run_on_the_bundled_default_scenario(isolated_data_dir, tmp_path):
    """The shipped task with no override runs on the bundled smm_ps_mini (a plain pip install)."""
    import smm_bench_plugin as smm

    _run(["-m", "carps.run", "hydra.searchpath=[pkg://smm_bench_plugin/configs]", "+task/SMMBench=ps_mini",
          "+optimizer/randomsearch=config", "task.optimization_resources.n_trials=10",
          f"baserundir={tmp_path / 'runs'}", "seed=1"], isolated_data_dir, tmp_path)
    (log,) = (tmp_path / "runs").rglob("trial_logs.jsonl")
    assert "/SMMBench/smm_bench/ps/smm_ps_mini/1/" in str(log)
    trials = [json.loads(line) for line in log.read_text().splitlines()]
    bench = smm.load("smm_ps_mini")
    assert len(trials) == 10
    names = list(bench.configspace.keys())
    for t in trials:
        info = t["trial_value"]["additional_info"]
        assert t["trial_value"]["cost"] == 1.0 - info[bench.objective_name]
        want = bench.evaluate(dict(zip(names, t["trial_info"]["config"], strict=True)))[0]
        assert all(abs(info[k] - want[k]) < 1e-9 for k in want)


_IN_VENV = r"""
import json, sys
inp = json.load(sys.stdin)
from ConfigSpace import Configuration
from carps.utils.trials import TrialInfo
from smm_bench_plugin.carps_adapter import SMMBenchObjectiveFunction
from smm_bench_plugin.hpoglue_adapter import benchmark_description, benchmark_descriptions
from hpoglue.run_glue import run_glue
from hposuite.optimizers.random_search import RandomSearch

out = {}
f = SMMBenchObjectiveFunction(inp["ps"])
cfg = Configuration(f.configspace, values=inp["ps_config"])
tv = f.evaluate(TrialInfo(config=cfg, seed=1))
out["carps"] = {"cost": tv.cost, "info": tv.additional_info, "calls": f.n_function_calls}
try:
    f.evaluate(TrialInfo(config=cfg, budget=3.0))
    out["carps"]["budget"] = "accepted"
except ValueError as e:
    out["carps"]["budget"] = str(e)

import smm_bench_plugin.benchmark as runtime
opened = []
real_open = runtime.open_session
runtime.open_session = lambda *a, **k: opened.append(a[0]) or real_open(*a, **k)
descs = {d.name: d for d in benchmark_descriptions()}
out["names"] = sorted(descs)
out["sessions_opened_by_describing"] = len(opened)
for key in ("smm_bench-smm_ps_t", "smm_bench-dfs_cost_t"):
    d = descs[key]
    df = run_glue(RandomSearch, d, budget=8, seed=2)
    out[key] = {
        "metrics": {k: [m.minimize, list(m.bounds), m.kind.value] for k, m in d.metrics.items()},
        "test_metrics": {k: [m.minimize, list(m.bounds)] for k, m in (d.test_metrics or {}).items()},
        "costs": {k: [m.minimize, m.kind.value] for k, m in (d.costs or {}).items()},
        "fidelities": d.fidelities,
        "rows": [{"config": r["config"], "results": r["results"]} for _, r in df.iterrows()],
    }
print(json.dumps(out))
"""


def test_carps_objective_and_hpoglue_descriptions_with_their_own_types(scenarios, isolated_data_dir, tmp_path):
    bench = Benchmark(scenarios["ps"])
    cs = bench.configspace
    cs.seed(11)
    ps_config = dict(cs.sample_configuration())
    stdout = _run(["-c", _IN_VENV], isolated_data_dir, tmp_path,
                  stdin=json.dumps({"ps": str(scenarios["ps"]), "ps_config": ps_config}))
    out = json.loads(stdout.strip().splitlines()[-1])

    want = bench.evaluate(ps_config)[0]
    assert out["carps"]["cost"] == 1.0 - want["gsm8k_ja"] and out["carps"]["info"] == want
    assert out["carps"]["calls"] == 1 and "no fidelity" in out["carps"]["budget"]

    from smm_bench_plugin.paths import scenario_entries

    bundled = [f"smm_bench-{e.name}" for e in scenario_entries() if e.source == "bundled"]
    assert "smm_bench-smm_ps_mini" in bundled
    assert out["names"] == sorted(["smm_bench-dfs_cost_t", "smm_bench-smm_ps_t", *bundled])
    assert out["sessions_opened_by_describing"] == 0  # models are loaded by desc.load only
    ps = out["smm_bench-smm_ps_t"]
    assert ps["metrics"] == {"gsm8k_ja": [False, [0.0, 1.0], "metric"]}
    assert ps["test_metrics"] == {"mgsm_ja": [False, [0.0, 1.0]]}
    assert ps["costs"] == {} and ps["fidelities"] is None
    dfs = out["smm_bench-dfs_cost_t"]
    assert dfs["costs"] == {"sec": [True, "cost"]} and dfs["test_metrics"] == {"acc_test": [False, [0.0, 1.0]]}
    for key, folder in (("smm_bench-smm_ps_t", scenarios["ps"]), ("smm_bench-dfs_cost_t", scenarios["dfs"])):
        rows = out[key]["rows"]
        assert len(rows) == 8
        b = Benchmark(folder)
        for r in rows:  # hpoglue logs configs rounded to 13 digits: compare within float noise
            got, ref = r["results"], b.evaluate(r["config"])[0]
            assert got.keys() == ref.keys() and all(abs(got[k] - ref[k]) < 1e-9 for k in got)


def test_smac_hpo_facade_example(scenarios, isolated_data_dir, tmp_path):
    stdout = _run([str(REPO / "examples" / "smac_hpo.py"), str(scenarios["ps"]), "--n-trials", "15",
                   "--output-dir", str(tmp_path / "smac")], isolated_data_dir, tmp_path)
    res = json.loads(stdout.strip().splitlines()[-1])
    bench = Benchmark(scenarios["ps"])
    assert res["evaluations"] == 15
    values = bench.evaluate(res["best_config"])[0]
    assert res["best_objective"] == values["gsm8k_ja"] == pytest.approx(res["best_value"], abs=1e-12)
    assert res["test_at_best"] == values["mgsm_ja"]


@pytest.mark.parametrize("task", ["ps_mini", "dfs_mini"])
def test_carps_task_metadata_matches_the_bundled_scenario(task):
    """The shipped task yaml describes its default scenario: dimensions, types, virtual time."""
    import yaml

    import smm_bench_plugin as smm

    doc = yaml.safe_load((REPO / "smm_bench_plugin" / "configs" / "task" / "SMMBench" / f"{task}.yaml").read_text())
    bench = smm.load(doc["smm_scenario"])
    meta = doc["task"]["metadata"]
    assert meta["has_virtual_time"] == any(t.role == "cost" for t in bench.targets)
    assert meta["dimensions"] == len(bench.hyperparameter_names)
    assert meta["search_space_n_categoricals"] == len(bench.cat_names)
    assert meta["search_space_n_floats"] == len(bench.cont_names)


def test_carps_run_on_a_scenario_folder(scenarios, isolated_data_dir, tmp_path):
    """``smm_scenario=<folder>``: a scenario nobody registered (a user's own export, copied
    anywhere) runs by path, and every trial is that folder's prediction."""
    folder = tmp_path / "elsewhere" / "my_dfs"
    shutil.copytree(scenarios["dfs"], folder)
    _run(["-m", "carps.run", "hydra.searchpath=[pkg://smm_bench_plugin/configs]", "+task/SMMBench=dfs_mini",
          "+optimizer/randomsearch=config", f"smm_scenario={folder}", "task.optimization_resources.n_trials=6",
          f"baserundir={tmp_path / 'runs'}", "seed=2"], isolated_data_dir, tmp_path)
    (log,) = (tmp_path / "runs").rglob("trial_logs.jsonl")
    assert log.is_relative_to(tmp_path / "runs") and "my_dfs" in log.parts
    bench = Benchmark(folder)
    names = list(bench.configspace.keys())
    trials = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(trials) == 6
    for t in trials:
        info = t["trial_value"]["additional_info"]
        want = bench.evaluate(dict(zip(names, t["trial_info"]["config"], strict=True)))[0]
        assert info.keys() == want.keys() and all(abs(info[k] - want[k]) < 1e-9 for k in want)
        assert t["trial_value"]["virtual_time"] == info["sec"]


_HPOSUITE_STUDY = r"""
import glob, json, sys
import pandas as pd
from hpoglue.run_glue import run_glue
from hposuite import create_study
from hposuite.optimizers.random_search import RandomSearch
from smm_bench_plugin.hpoglue_adapter import benchmark_description

inp = json.load(sys.stdin)
desc = benchmark_description(inp["scenario"])
create_study(name="s", output_dir=inp["out"], optimizers=RandomSearch, benchmarks=desc, seeds=[3],
             budget=6).optimize()
(path,) = glob.glob(inp["out"] + "/s/*/*.parquet")
df = pd.read_parquet(path)
glue = run_glue(RandomSearch, desc, budget=6, seed=3)
print(json.dumps({
    "benchmark": df["benchmark.name"].unique().tolist(),
    "objective": df[["problem.objective.1.name", "problem.objective.1.minimize"]].drop_duplicates().values.tolist(),
    "values": df["result.objective.1.value"].tolist(),
    "glue": [{"config": r["config"], "results": r["results"]} for _, r in glue.iterrows()],
}))
"""


def test_hposuite_create_study_on_a_bundled_scenario(isolated_data_dir, tmp_path):
    """The documented ``hposuite.create_study(benchmarks=desc, ...)`` path on the bundled
    smm_ps_mini: the study's logged values are the scenario's predictions for the configs the
    same optimiser and seed propose (hposuite's parquet does not log configs; ``run_glue``
    with the same seed does), rounded to the float32 that hposuite writes."""
    import smm_bench_plugin as smm

    stdout = _run(["-c", _HPOSUITE_STUDY], isolated_data_dir, tmp_path,
                  stdin=json.dumps({"scenario": "smm_ps_mini", "out": str(tmp_path / "study")}))
    out = json.loads(stdout.strip().splitlines()[-1])
    bench = smm.load("smm_ps_mini")
    assert out["benchmark"] == ["smm_bench-smm_ps_mini"]
    assert out["objective"] == [[bench.objective_name, False]]
    assert len(out["values"]) == len(out["glue"]) == 6
    for value, row in zip(out["values"], out["glue"]):
        want = bench.evaluate(row["config"])[0]
        assert abs(row["results"][bench.objective_name] - want[bench.objective_name]) < 1e-9
        assert value == float(np.float32(want[bench.objective_name]))  # hposuite's parquet stores float32
    assert len(set(out["values"])) == 6  # six distinct configs, not one repeated
