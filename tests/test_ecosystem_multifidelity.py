"""Multi-fidelity scenarios through the real ecosystem packages, each in its own venv as .ci/run builds them:
YAHPO Gym (fidelity as a config hyperparameter), carps (a multi-fidelity task run by SMAC3's Hyperband),
hpoglue/hposuite (``fidelities`` in the description), SMAC3's multi-fidelity facades and DEHB through
``compare``; the HPOBench-style class and Optuna's pruners run here."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import MF_LADDER, side_venv_python, write_mf_scenario

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def mf(isolated_data_dir) -> Path:
    """A PS multi-fidelity scenario ``mf_t`` in this test's user data dir."""
    return write_mf_scenario(isolated_data_dir / "scenarios" / "mf_t", "ps")[0]


def _run(python: str, args: list[str], data_dir: Path, cwd: Path, stdin: str | None = None, timeout: int = 600) -> str:
    env = dict(os.environ, SMM_BENCH_DATA_DIR=str(data_dir), HOME=str(cwd), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("YAHPO_LOCAL_CONFIG", None)
    proc = subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          input=stdin)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    return proc.stdout


def _configs(bench, n: int = 4) -> list[dict]:
    rng = np.random.default_rng(2)
    return [dict(zip(bench.cont_names, rng.random(len(bench.cont_names)).tolist())) for _ in range(n)]


_YAHPO = r"""
import json, sys
inp = json.load(sys.stdin)
from smm_bench_plugin import yahpo
from yahpo_gym import BenchmarkSet
yahpo.register("mf_t")
b = BenchmarkSet("mf_t", multithread=False)
fs = b.get_fidelity_space()
out = {"fidelity": [h.name for h in fs.get_hyperparameters()], "sequence": list(fs.get_hyperparameter("n_items").sequence),
       "opt": len(b.get_opt_space(drop_fidelity_params=True).get_hyperparameters()),
       "opt_with": len(b.get_opt_space().get_hyperparameters()), "values": {}}
for k in inp["ladder"]:
    out["values"][str(k)] = b.objective_function([dict(c, n_items=k) for c in inp["configs"]])
print(json.dumps(out, default=float))
"""


def test_yahpo_gym_fidelity_is_a_config_hyperparameter(mf, isolated_data_dir, tmp_path):
    import smm_bench_plugin as smm

    bench = smm.load("mf_t")
    configs = _configs(bench)
    python = side_venv_python("SMM_BENCH_YAHPO_PYTHON", ".venv-yahpo", "yahpo")
    out = json.loads(_run(python, ["-c", _YAHPO], isolated_data_dir, tmp_path,
                          json.dumps({"configs": configs, "ladder": MF_LADDER})).strip().splitlines()[-1])
    assert out["fidelity"] == ["n_items"] and out["sequence"] == MF_LADDER
    assert out["opt"] == 64 and out["opt_with"] == 65
    rounded = [{k: float(np.float32(v)) for k, v in c.items()} for c in configs]  # YAHPO feeds float32
    for k in MF_LADDER:
        want = bench.evaluate(rounded, fidelity=k)
        assert out["values"][str(k)] == want
    assert out["values"]["16"] != out["values"]["256"]


def test_hpobench_style_fidelity(mf):
    from smm_bench_plugin.hpobench import SMMBenchHPOBench

    b = SMMBenchHPOBench("mf_t")
    fs = b.get_fidelity_space(seed=1)
    assert list(fs["n_items"].sequence) == MF_LADDER and fs["n_items"].default_value == 256
    config = b.get_configuration_space(seed=0).sample_configuration()
    low = b.objective_function(config, fidelity={"n_items": 16})
    full = b.objective_function(config)
    assert low["info"]["fidelity"] == {"n_items": 16} and full["info"]["fidelity"] == {"n_items": 256}
    assert low["cost"] < full["cost"]
    assert full["function_value"] == 1.0 - b.bench.objective(config)
    assert low["function_value"] == 1.0 - b.bench.objective(config, fidelity=16)
    assert b.objective_function(config, fidelity=fs.get_default_configuration()) == full
    with pytest.raises(ValueError, match="not on the ladder; allowed: 16, 32, 64, 128, 256"):
        b.objective_function(config, fidelity={"n_items": 100})
    with pytest.raises(ValueError, match="full fidelity only"):
        b.objective_function_test(config, fidelity={"n_items": 16})
    assert b.objective_function_test(config)["info"]["fidelity"] == {"n_items": 256}


def test_carps_multifidelity_task_with_smac_hyperband(mf, isolated_data_dir, tmp_path):
    """carps' SMAC3-Hyperband (eta 3: budgets between rungs get the rung below) on the shipped MF task."""
    import smm_bench_plugin as smm

    python = side_venv_python("SMM_BENCH_ECO_PYTHON", ".venv-eco", "carps,hposuite,smac")
    _run(python, ["-m", "carps.run", "hydra.searchpath=[pkg://smm_bench_plugin/configs]", "+task/SMMBench=ps_mini_mf",
                  "+optimizer/smac20=hyperband", "smm_scenario=mf_t", "task.optimization_resources.n_trials=20",
                  f"baserundir={tmp_path / 'runs'}", "seed=2"], isolated_data_dir, tmp_path)
    (log,) = (tmp_path / "runs").rglob("trial_logs.jsonl")
    trials = [json.loads(line) for line in log.read_text().splitlines()]
    bench = smm.load("mf_t")
    names = list(bench.configspace.keys())
    budgets = {t["trial_info"]["budget"] for t in trials}
    assert len(budgets) > 1 and all(16 <= b <= 256 for b in budgets)
    for t in trials:
        info = t["trial_value"]["additional_info"]
        rung = info["n_items"]
        assert rung == bench.rung_at_most(t["trial_info"]["budget"])
        want = bench.evaluate(dict(zip(names, t["trial_info"]["config"], strict=True)), fidelity=rung)[0]
        assert abs(t["trial_value"]["cost"] - (1.0 - want["acc"])) < 1e-9
        assert abs(t["trial_value"]["virtual_time"] - want["seconds"]) < 1e-9


_HPOGLUE = r"""
import json
from smm_bench_plugin.hpoglue_adapter import benchmark_description
from hpoglue import Query, Config
desc = benchmark_description("mf_t")
f = desc.fidelities["n_items"]
bench = desc.load(desc)
cfg = dict(desc.config_space.sample_configuration(seed=0)) if False else None
space = desc.config_space; space.seed(0)
c = dict(space.sample_configuration())
out = {"kind": type(f).__name__, "values": list(f.values), "config": c, "results": {}}
for fid in [("n_items", 16), {"n_items": 64}, None, ("n_items", 28)]:
    r = bench.query(Query(config=Config(config_id="a", values=c), fidelity=fid))
    out["results"][json.dumps(fid)] = [r.fidelity, r.values]
print(json.dumps(out))
"""


def test_hpoglue_description_declares_the_ladder(mf, isolated_data_dir, tmp_path):
    import smm_bench_plugin as smm

    python = side_venv_python("SMM_BENCH_ECO_PYTHON", ".venv-eco", "carps,hposuite,smac")
    out = json.loads(_run(python, ["-c", _HPOGLUE], isolated_data_dir, tmp_path).strip().splitlines()[-1])
    assert out["kind"] == "ListFidelity" and out["values"] == MF_LADDER
    bench = smm.load("mf_t")
    res = out["results"]
    assert res['["n_items", 16]'] == [["n_items", 16], bench.evaluate(out["config"], fidelity=16)[0]]
    assert res['{"n_items": 64}'] == [["n_items", 64], bench.evaluate(out["config"], fidelity=64)[0]]
    assert res["null"] == [["n_items", 256], bench.evaluate(out["config"])[0]]
    assert res['["n_items", 28]'][0] == ["n_items", 16]


_COMPARE = r"""
import json, sys
from smm_bench_plugin.mf_compare import compare_multifidelity
names = sys.argv[1].split(",")
r = compare_multifidelity("mf_t", names + ["random"], seeds=[0, 1], full_evaluations=12)
s = r.summary()
print(json.dumps({n: {"fid": v["evaluations_by_fidelity"], "evals": v["evaluations_per_run"],
                      "best": v["full_best_at_budget_share"]["1"]["mean"]} for n, v in s["optimizers"].items()}))
"""


@pytest.mark.parametrize("venv, names", [
    (("SMM_BENCH_ECO_PYTHON", ".venv-eco", "carps,hposuite,smac"), "smac-hb,smac-mf"),
    (("SMM_BENCH_DEHB_PYTHON", ".venv-dehb", "compare,dehb"), "dehb"),
])
def test_compare_runs_real_multifidelity_libraries(mf, isolated_data_dir, tmp_path, venv, names):
    """SMAC3's Hyperband and multi-fidelity facades and DEHB ask for every rung and spend exactly the budget."""
    out = json.loads(_run(side_venv_python(*venv), ["-c", _COMPARE, names], isolated_data_dir,
                          tmp_path).strip().splitlines()[-1])
    for name in names.split(","):
        assert set(out[name]["fid"]) == {str(k) for k in MF_LADDER}, out[name]
        assert out[name]["evals"] > out["random"]["evals"]  # cheap rungs buy more evaluations
    assert set(out["random"]["fid"]) == {"256"}


def test_compare_optuna_pruners_and_single_fidelity_on_one_cost_axis(mf, tmp_path):
    from smm_bench_plugin.mf_compare import compare_multifidelity, write_mf_outputs

    r = compare_multifidelity("mf_t", ["random", "tpe", "hyperband", "bohb", "sh"], seeds=[0, 1], full_evaluations=15)
    for run in r.runs:
        t = run.trajectory
        assert t["cost"][-1] >= r.cost_budget and t["cost"][-2] < r.cost_budget  # ends at the budget, not before
        assert np.all(np.diff(t["cost"]) > 0)
        if run.optimizer in ("random", "tpe"):
            assert set(t["fidelity"].tolist()) == {256}
        else:
            assert set(t["fidelity"].tolist()) >= {16, 256}
    again = compare_multifidelity("mf_t", ["hyperband", "sh"], seeds=[0], full_evaluations=15, jobs=2)  # 2 processes
    assert np.array_equal(again.runs[0].trajectory["incumbent_full"], r.runs[4].trajectory["incumbent_full"])
    assert np.array_equal(again.runs[1].trajectory["cost"], r.runs[8].trajectory["cost"])
    paths = write_mf_outputs(r, tmp_path / "out")
    assert paths["plot"].stat().st_size > 10_000
    summary = json.loads(paths["summary"].read_text())
    assert set(summary["optimizers"]) == {"random", "tpe", "hyperband", "bohb", "sh"}
    with pytest.raises(ValueError, match="unknown optimizer 'bogus'"):
        compare_multifidelity("mf_t", ["bogus"], seeds=1)


def test_compare_refuses_a_single_fidelity_scenario(ps_scenario):
    from smm_bench_plugin.mf_compare import compare_multifidelity

    with pytest.raises(ValueError, match="has no fidelity"):
        compare_multifidelity(ps_scenario, ["hyperband"], seeds=1)


def test_cli_compare_dispatches_a_multifidelity_scenario(mf, tmp_path):
    """``smm-bench compare`` on a multi-fidelity scenario compares against simulated seconds
    (``--budget`` counts full evaluations' worth, ``--cost-budget`` seconds)."""
    from smm_bench_plugin.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "--scenario", str(mf), "--optimizers", "random,hyperband", "--seeds", "2",
                 "--budget", "6", "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget_in_full_evaluations"] == pytest.approx(6)
    assert set(summary["optimizers"]) == {"random", "hyperband"}
    assert (out / "best_so_far_cost.png").is_file() and (out / "table.md").is_file()
    assert main(["compare", "--scenario", str(mf), "--optimizers", "random", "--seeds", "1", "--cost-budget", "7.5",
                 "--out", str(tmp_path / "c2"), "--no-plot", "--quiet"]) == 0
    assert json.loads((tmp_path / "c2" / "summary.json").read_text())["cost_budget_seconds"] == 7.5
    assert main(["compare", "--scenario", str(mf), "--optimizers", "catcma", "--out", str(tmp_path / "c3")]) == 1
