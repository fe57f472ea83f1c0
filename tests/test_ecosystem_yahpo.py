"""The real ``yahpo_gym.BenchmarkSet`` on our scenarios, in yahpo-gym's own environment.

yahpo-gym 1.0.2 pins ConfigSpace<=0.6.1 and numpy<2, so it cannot be imported here. The
scenarios are built in this (main) environment from real LightGBM CVBoosters, then a script
runs in the YAHPO venv: ``.ci/run`` creates it and passes its interpreter in
``SMM_BENCH_YAHPO_PYTHON``; locally ``.venv-yahpo`` in the checkout is used
(``python3 -m venv .venv-yahpo && .venv-yahpo/bin/pip install -e ".[yahpo]"``).
HOME points at an empty folder, so ``~/.config/yahpo_gym`` is absent unless a test writes it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import dfs_inputs, side_venv_python, synthetic_target, train_cv

from smm_bench_plugin import Benchmark
from smm_bench_plugin.importer import import_lightgbm
from smm_bench_plugin.scenario import Target

REPO = Path(__file__).resolve().parents[1]


def _yahpo_python() -> str:
    return side_venv_python("SMM_BENCH_YAHPO_PYTHON", ".venv-yahpo", "yahpo")


_SCRIPT = r"""
import json, sys
inp = json.load(sys.stdin)
from smm_bench_plugin import yahpo
import yahpo_gym, ConfigSpace
from yahpo_gym import BenchmarkSet
from yahpo_gym.local_config import local_config

out = {"versions": [yahpo_gym.__version__, ConfigSpace.__version__], "registered_one": yahpo.register("smm_ps_mini"),
       "registered": yahpo.register()}
out["scenarios"] = yahpo_gym.list_scenarios()
for name, configs in inp["configs"].items():
    b = BenchmarkSet(name, multithread=False)
    space = b.get_opt_space(drop_fidelity_params=True, seed=0)
    r = {"one": b.objective_function(configs[0]), "many": b.objective_function(configs),
         "opt_space": sorted(space.get_hyperparameter_names()), "targets": list(b.targets),
         "fidelity": len(b.get_fidelity_space().get_hyperparameters()), "instances": b.instances,
         "sampled_config": dict(space.sample_configuration()),
         "runtime_name": b.config.runtime_name}
    r["sampled"] = b.objective_function(r["sampled_config"])  # YAHPO's own sample: not float32-rounded
    if b.config.runtime_name:
        r["timed"] = b.objective_function_timed(configs)
    bad = dict(configs[0]); key = sorted(bad)[-1]; bad[key] = 99.0
    try:
        b.objective_function(bad)
        r["out_of_range"] = "accepted"
    except Exception as e:
        r["out_of_range"] = type(e).__name__
    out[name] = r
out["data_path"] = str(local_config.data_path)
print(json.dumps(out, default=float))
"""


def _run(env_home: Path, data_dir: Path, configs: dict, timeout: int = 300) -> dict:
    env = dict(os.environ, HOME=str(env_home), SMM_BENCH_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1")
    env.pop("YAHPO_LOCAL_CONFIG", None)
    proc = subprocess.run([_yahpo_python(), "-c", _SCRIPT], input=json.dumps({"configs": configs}), env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def scenarios(authors_ps, isolated_data_dir) -> dict[str, Path]:
    """PS (no categoricals) and a DFS scenario with a cost target, in this test's data dir."""
    from smm_bench_surrogates.export import export_cv_boosters

    ps = import_lightgbm(authors_ps, "ps", name="smm_ps_t")
    rng = np.random.default_rng(5)
    X = dfs_inputs(rng, 900)
    models = [(Target("acc", "objective", 0.0, 1.0), train_cv(X, synthetic_target(X, rng) - 0.3, rounds=8)),
              (Target("acc_test", "test", 0.0, 1.0), train_cv(X, synthetic_target(X, rng) - 0.35, rounds=8)),
              (Target("eval_seconds", "cost", 0.0, float("inf"), "minimize"),
               train_cv(X, 0.02 + 0.01 * X[:, 40], rounds=8))]
    dfs = export_cv_boosters(isolated_data_dir / "scenarios" / "dfs_cost_t", name="dfs_cost_t", space="dfs",
                             models=models)
    from smm_bench_plugin.paths import scenario_entries

    from smm_bench_plugin.scenario import read_meta

    bundled = {e.name: e.path for e in scenario_entries()  # smm_ps_mini, smm_dfs_mini (the MF ones: their own test)
               if e.source == "bundled" and "fidelity" not in read_meta(e.path)}
    return {"smm_ps_t": ps, "dfs_cost_t": dfs, **bundled}


def _configs(folder: Path, n: int, seed: int) -> list[dict]:
    """Sampled configs with floats already float32-representable (YAHPO feeds float32)."""
    cs = Benchmark(folder).configspace
    cs.seed(seed)
    out = []
    for c in cs.sample_configuration(n):
        out.append({k: (float(np.float32(v)) if isinstance(v, float) else v) for k, v in dict(c).items()})
    return out


def test_benchmarkset_matches_our_runtime_without_a_yahpo_config_file(scenarios, isolated_data_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    configs = {name: _configs(folder, 5, seed=i) for i, (name, folder) in enumerate(scenarios.items())}
    out = _run(home, isolated_data_dir, configs)

    assert out["versions"][0] == "1.0.2" and out["versions"][1].startswith("0.6")
    assert set(out["registered"]) - set(scenarios) == {"smm_ps_mini_mf", "smm_dfs_mini_mf"}  # every installed one
    assert set(scenarios) <= set(out["registered"]) and "smm_ps_mini" in scenarios
    assert out["registered_one"] == ["smm_ps_mini"]  # one name, not a list of its characters
    assert {"lcbench", *scenarios} <= set(out["scenarios"])  # YAHPO's own ones stay
    assert not (home / ".config" / "yahpo_gym").exists()  # never written
    assert out["data_path"] == str(isolated_data_dir / "yahpo")
    for name, folder in scenarios.items():
        bench = Benchmark(folder)
        want = bench.evaluate(configs[name])
        r = out[name]
        assert r["one"] == want[:1]  # exact: float32 inputs cast to float64 inside the graph
        assert r["many"] == want
        assert r["targets"] == list(bench.target_names)
        assert r["opt_space"] == sorted(bench.hyperparameter_names)
        assert r["fidelity"] == 0 and r["instances"] == []
        # YAHPO feeds float32: its own sample gives our result on the float32-rounded configuration
        rounded = {k: (float(np.float32(v)) if isinstance(v, float) else v) for k, v in r["sampled_config"].items()}
        assert r["sampled"] == bench.evaluate(rounded)
        assert r["out_of_range"] == "ValueError"  # YAHPO's own ConfigSpace check runs
    assert out["smm_ps_t"]["runtime_name"] == "" and "timed" not in out["smm_ps_t"]
    assert out["dfs_cost_t"]["runtime_name"] == "eval_seconds"
    assert out["dfs_cost_t"]["timed"] == Benchmark(scenarios["dfs_cost_t"]).evaluate(configs["dfs_cost_t"])
    # the YAHPO copy has a float32 input; the scenario itself is untouched (sha checked at load)
    import onnx

    g = onnx.load(str(isolated_data_dir / "yahpo" / "dfs_cost_t" / "model.onnx")).graph
    assert [(i.name, i.type.tensor_type.elem_type) for i in g.input] == [("x_cat", 6), ("x_cont", 1)]


def test_an_existing_user_yahpo_config_is_left_alone(scenarios, isolated_data_dir, tmp_path):
    home = tmp_path / "home"
    user_file = home / ".config" / "yahpo_gym"
    user_file.parent.mkdir(parents=True)
    user_data = tmp_path / "users-yahpo-data"
    user_data.mkdir()
    user_file.write_text(f"data_path: {user_data}\n")
    before = user_file.read_bytes()
    configs = {"smm_ps_t": _configs(scenarios["smm_ps_t"], 2, seed=7)}
    out = _run(home, isolated_data_dir, configs)
    assert user_file.read_bytes() == before
    assert out["data_path"] == str(user_data)  # YAHPO still reads the user's setting
    assert out["smm_ps_t"]["many"] == Benchmark(scenarios["smm_ps_t"]).evaluate(configs["smm_ps_t"])
    assert not any(user_data.iterdir())  # our copies went to our data dir, not the user's
