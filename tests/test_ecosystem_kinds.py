"""The kinds and task checks with the real carps and hpoglue/hposuite (their venv: see test_ecosystem_suites)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import side_venv_python

import smm_bench_plugin as smm
from smm_bench_plugin.importer import import_lightgbm


def _eco(args: list[str], data_dir: Path, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    python = side_venv_python("SMM_BENCH_ECO_PYTHON", ".venv-eco", "carps,hposuite,smac")
    env = dict(os.environ, SMM_BENCH_DATA_DIR=str(data_dir), HOME=str(cwd), OMP_NUM_THREADS="1")
    return subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
                          input=stdin)


def test_carps_refuses_a_scenario_of_another_space(isolated_data_dir, tmp_path):
    proc = _eco(["-m", "carps.run", "hydra.searchpath=[pkg://smm_bench_plugin/configs]", "+task/SMMBench=ps_mini",
                 "+optimizer/randomsearch=config", "smm_scenario=smm_dfs_mini",
                 "task.optimization_resources.n_trials=3", f"baserundir={tmp_path / 'runs'}"],
                isolated_data_dir, tmp_path)
    assert proc.returncode != 0
    assert "smm_scenario=smm_dfs_mini: a single-fidelity 'dfs' scenario, but this task is single-fidelity 'ps'" \
           in proc.stderr + proc.stdout
    assert not list((tmp_path / "runs").rglob("trial_logs.jsonl"))  # refused before any trial


_IN_VENV = r"""
import json, sys, warnings
import numpy as np
inp = json.load(sys.stdin)
from smm_bench_plugin.carps_adapter import task_metadata
from smm_bench_plugin.hpoglue_adapter import benchmark_description, table_description
from hpoglue.run_glue import run_glue
from hposuite.optimizers.random_search import RandomSearch

out = {}
static = {"domain": "model_merging", "has_virtual_time": True}
out["virtual_time"] = {name: task_metadata(name, "ps", False, **static).has_virtual_time
                       for name in ("smm_ps_mini", inp["no_cost"])}
for task, fidelity in (("ps", False), ("dfs", True)):
    try:
        task_metadata("smm_dfs_mini", task, fidelity)
    except ValueError as e:
        out[f"refused_{task}"] = str(e)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    meta = task_metadata("smm_dfs_mini", "dfs", False)
out["dfs_meta"] = [meta.dimensions, meta.search_space_n_categoricals, meta.has_virtual_time]
out["dfs_warnings"] = [str(w.message) for w in caught]

point = benchmark_description("smm_dfs_mini").predefined_points["default"]
out["predefined"] = {"id": point.config_id, "description": point.description, "values": dict(point.values)}

desc = table_description("smm_ps_mini")
out["table"] = {"is_tabular": desc.is_tabular, "n_configs": len(desc.config_space)}
df = run_glue(RandomSearch, desc, budget=12, seed=3)
out["table"]["rows"] = [{"config": dict(r["config"]), "results": r["results"]} for _, r in df.iterrows()]
print(json.dumps(out))
"""


def test_carps_metadata_and_hpoglue_table_with_their_own_types(authors_ps, isolated_data_dir, tmp_path):
    no_cost = import_lightgbm(authors_ps, "ps", name="ps_no_cost")
    proc = _eco(["-c", _IN_VENV], isolated_data_dir, tmp_path, stdin=json.dumps({"no_cost": str(no_cost)}))
    assert proc.returncode == 0, proc.stderr[-5000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["virtual_time"] == {"smm_ps_mini": True, str(no_cost): False}  # follows the cost target
    assert "this task is single-fidelity 'ps'" in out["refused_ps"]
    assert "this task is multi-fidelity 'dfs'" in out["refused_dfs"]
    assert out["dfs_meta"] == [95, 32, True]
    (note,) = [w for w in out["dfs_warnings"] if "default configuration" in w]
    assert "starts at the top" in note

    dfs = smm.load("smm_dfs_mini")
    assert out["predefined"]["id"] == "default"
    assert out["predefined"]["values"] == dict(dfs.configspace.get_default_configuration())
    assert "true objective 0.727" in out["predefined"]["description"]

    table = smm.load("smm_ps_mini", kind="table")
    assert out["table"] == {**out["table"], "is_tabular": True, "n_configs": len(table)}
    rows = out["table"]["rows"]
    assert len(rows) == 12
    stored = table.configs()
    names = table.hyperparameter_names
    import numpy as np

    grid = np.array([[c[n] for n in names] for c in stored])
    for row in rows:  # hpoglue logs configs rounded: find the stored one, then its values must be exact
        asked = np.array([row["config"][n] for n in names])
        (match,) = np.flatnonzero(np.abs(grid - asked).max(axis=1) < 1e-9)
        assert row["results"] == table.evaluate(stored[match])[0]


_GATHER = r"""
import json, sys
import pandas as pd
from carps.analysis.gather_data import gather_and_check
gather_and_check(sys.argv[1], n_processes=1)
logs = pd.read_parquet(sys.argv[1] + "/logs.parquet")
best = logs.groupby(["optimizer_id", "seed"])["trial_value__cost_inc"].min()
print(json.dumps({"rows": len(logs), "task_id": sorted(set(logs["task_id"])), "status": sorted(set(logs["status"])),
                  "best": {f"{o}/{s}": v for (o, s), v in best.items()}}))
"""


def test_compare_trajectories_gathered_by_carps_own_loader(isolated_data_dir, tmp_path):
    """``smm-bench to-carps`` writes compare's runs as carps run folders; carps' gather_data reads them."""
    import sys

    run = tmp_path / "run"
    cli = [sys.executable, "-m", "smm_bench_plugin.cli"]
    env = dict(os.environ, SMM_BENCH_DATA_DIR=str(isolated_data_dir))
    for args in (["compare", "--scenario", "smm_dfs_mini", "--optimizers", "random,tpe", "--budget", "12", "--seeds",
                  "2", "--jobs", "1", "--no-plot", "--quiet", "--out", str(run)], ["to-carps", str(run)]):
        proc = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _eco(["-c", _GATHER, str(run / "carps")], isolated_data_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr[-5000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rows"] == 4 * 12 and out["task_id"] == ["smm_bench/dfs/smm_dfs_mini"] and out["status"] == ["COMPLETED"]
    best = {f"{r['optimizer']}/{r['seed']}": 1.0 - r["best_objective"]
            for r in json.loads((run / "best_configs.json").read_text())["runs"]}
    assert out["best"] == best  # carps' incumbent cost is 1 - each run's best objective
