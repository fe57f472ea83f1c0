"""Cases that depend on other parts of the project or other environments; each one runs when
its prerequisites exist and otherwise returns ``{"skipped": <reason>}``, so the same suite
runs unchanged as the project fills in (YAHPO adapter and venv, ``smm-bench compare``, the
mini model family).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["yahpo_per_call", "compare_share"]

REPO = Path(__file__).resolve().parent.parent

_YAHPO = r"""
import itertools, json, sys, time, statistics
name, repeats = sys.argv[1], int(sys.argv[2])
import smm_bench_plugin as smm
from smm_bench_plugin import yahpo as adapter
adapter.register()
from yahpo_gym import BenchmarkSet
bs = BenchmarkSet(name)
cs = bs.get_opt_space() if hasattr(bs, "get_opt_space") else bs.config_space
configs = [dict(c.get_dictionary() if hasattr(c, "get_dictionary") else c) for c in cs.sample_configuration(256)]
ours = smm.load(name)
def timed(fn, number):
    cyc = itertools.cycle(configs).__next__
    fn(cyc())
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(cyc())
        out.append((time.perf_counter() - t0) / number)
    return statistics.median(out)
yahpo_s = timed(lambda c: bs.objective_function(c), 200)
ours_s = timed(lambda c: ours.objective(c), 2000)
y = bs.objective_function(configs[0])
y = y[0] if isinstance(y, list) else y
print(json.dumps({"yahpo_objective_function_us": yahpo_s * 1e6, "ours_objective_us": ours_s * 1e6,
                  "ratio": yahpo_s / ours_s, "yahpo_result_keys": sorted(y),
                  "numpy": __import__("numpy").__version__, "ConfigSpace": __import__("ConfigSpace").__version__}))
"""


def _yahpo_python() -> Path | None:
    env = os.environ.get("SMM_BENCH_YAHPO_PYTHON")
    candidates = [Path(env)] if env else []
    candidates += [REPO / ".venv-yahpo" / "bin" / "python", REPO / ".venv-ci" / "yahpo" / "bin" / "python"]
    return next((p for p in candidates if p.is_file()), None)


def yahpo_per_call(scenario_name: str, data_dir: Path, repeats: int) -> dict:
    """``yahpo_gym.BenchmarkSet(name).objective_function`` vs our ``objective``, one process
    (the YAHPO venv: numpy < 2, ConfigSpace 0.6.1), same scenario, distinct configs per call."""
    if not (REPO / "smm_bench_plugin" / "yahpo.py").is_file():
        return {"skipped": "smm_bench_plugin/yahpo.py (the YAHPO adapter) is missing"}
    py = _yahpo_python()
    if py is None:
        return {"skipped": "no YAHPO venv: set SMM_BENCH_YAHPO_PYTHON or create .venv-yahpo with yahpo-gym"}
    env = dict(os.environ, SMM_BENCH_DATA_DIR=str(data_dir),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([str(py), "-c", _YAHPO, scenario_name, str(repeats)], capture_output=True, text=True,
                         env=env, timeout=900)
    if res.returncode != 0:
        return {"skipped": f"YAHPO run failed in {py}: {res.stderr.strip().splitlines()[-1] if res.stderr else '?'}",
                "stderr_tail": res.stderr[-1500:]}
    return {"python": str(py), **json.loads(res.stdout.strip().splitlines()[-1])}


def compare_share(scenario_name: str, data_dir: Path) -> dict:
    """``smm-bench compare`` with its defaults: wall time and the benchmark's share of it."""
    if not (REPO / "smm_bench_plugin" / "compare.py").is_file():
        return {"skipped": "smm_bench_plugin/compare.py (smm-bench compare) is missing"}
    out = data_dir.parent / "compare-out"
    env = dict(os.environ, SMM_BENCH_DATA_DIR=str(data_dir))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "smm_bench_plugin.cli", "compare", "--scenario", scenario_name,
                          "--out", str(out), "--force"],  # the bench's own scratch folder: replace its last run
                         capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return {"skipped": f"smm-bench compare failed: {(res.stderr.strip().splitlines() or ['?'])[-1]}",
                "stderr_tail": res.stderr[-1500:]}
    summary = out / "summary.json"
    found = None
    if summary.is_file():  # written by smm_bench_plugin.compare: the share it measured itself
        doc = json.loads(summary.read_text())
        found = {k: doc.get(k) for k in ("benchmark_share", "benchmark_seconds_total", "optimizer_seconds_total",
                                         "wall_seconds_total", "evaluations", "budget", "seeds")}
        found["per_optimizer_share"] = {name: o.get("benchmark_share") for name, o in doc.get("optimizers", {}).items()}
    return {"wall_s": wall, "recorded_by_compare": found, "stdout_tail": res.stdout[-1500:]}
