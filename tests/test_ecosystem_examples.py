"""The Optuna, cmaes and SciPy examples (main environment) run on test scenarios, short budgets.
The SMAC example needs ConfigSpace >= 1 without pandas 3 conflicts: see test_ecosystem_suites."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smm_bench_plugin import Benchmark

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CASES = [
    ("optuna_tpe.py", "ps", ["--n-trials", "25"], 25, None),
    ("optuna_tpe.py", "dfs", ["--n-trials", "25"], 25, None),
    ("cmaes_sep_cat.py", "ps", ["--generations", "4"], 4 * 16, "SepCMA"),
    ("cmaes_sep_cat.py", "dfs", ["--generations", "4"], 4 * 17, "CatCMA"),
    ("scipy_de.py", "ps", ["--maxiter", "2"], 3 * 64, None),
    ("scipy_de.py", "dfs", ["--maxiter", "2"], 3 * 95, None),
]


@pytest.mark.parametrize("script,space,args,evaluations,optimizer", CASES)
def test_example_reports_a_true_incumbent(script, space, args, evaluations, optimizer, ps_scenario, dfs_scenario):
    folder = ps_scenario if space == "ps" else dfs_scenario
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), str(folder), "--seed", "1", *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    bench = Benchmark(folder)
    values = bench.evaluate(res["best_config"])[0]
    assert res["evaluations"] == evaluations
    assert res["best_objective"] == values[bench.objective_name] == res["best_value"]
    assert res["test_at_best"] == values[bench.test_name]
    if optimizer:
        assert res["optimizer"] == optimizer
