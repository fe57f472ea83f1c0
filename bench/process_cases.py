"""Cases that need a fresh interpreter: import time, scenario load time and peak RSS.

Measured in subprocesses because a warm process has the modules and files cached already
and its RSS includes whatever else the bench loaded (LightGBM, the big ensembles).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

__all__ = ["import_cost", "load_cost"]

HEAVY = ("torch", "transformers", "lightgbm", "optuna", "ConfigSpace", "onnx")

_IMPORT = """
import json, sys, time
t0 = time.perf_counter()
import smm_bench_plugin
t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0, "heavy": [m for m in %r if m in sys.modules],
                  "onnxruntime_imported": "onnxruntime" in sys.modules}))
""" % (HEAVY,)

_LOAD = """
import json, sys, time
# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a child of this
# (multi-GB) bench process would report the parent's peak; VmHWM belongs to the new image only.
def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
t0 = time.perf_counter()
import smm_bench_plugin as smm
t1 = time.perf_counter()
rss_import = peak()
b = smm.load(sys.argv[1])
t2 = time.perf_counter()
corner = {**{n: float(lo) for n, lo in zip(b.cont_names, b._encoder.lower)},
          **{n: ch[0] for n, ch in zip(b.cat_names, b._encoder.cat_choices)}}
b.objective(corner)
t3 = time.perf_counter()
rss_runtime = peak()
b.evaluate(corner)
t4 = time.perf_counter()
rss_evaluate = peak()
cs = b.configspace
b.objective(dict(cs.sample_configuration()))
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_call_s": t3 - t2, "first_evaluate_s": t4 - t3,
                  "configspace_s": t5 - t4, "rss_after_import_mb": rss_import, "peak_rss_mb": rss_runtime,
                  "peak_rss_evaluate_mb": rss_evaluate, "peak_rss_with_configspace_mb": peak(),
                  "model_mb": (__import__("pathlib").Path(b.path) / "model.onnx").stat().st_size / 2**20}))
"""


def _run(code: str, *args: str) -> dict:
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def import_cost(repeats: int = 5) -> dict:
    """``import smm_bench_plugin`` in fresh interpreters: median seconds, heavy modules pulled in."""
    runs = [_run(_IMPORT) for _ in range(repeats)]
    return {"median_s": statistics.median(r["seconds"] for r in runs), "runs_s": [r["seconds"] for r in runs],
            "heavy_modules_imported": sorted({m for r in runs for m in r["heavy"]}),
            "onnxruntime_imported": any(r["onnxruntime_imported"] for r in runs)}


def load_cost(scenario: Path, repeats: int = 3) -> dict:
    """``smm.load`` in fresh interpreters: median load seconds (sha256 check, session build,
    graph check), peak RSS after one ``objective()`` call (``peak_rss_mb``: what an optimiser
    pays), after a first ``evaluate()`` too (``peak_rss_evaluate_mb``: the full graph opens on
    first use; ``first_evaluate_s``) and after ``Benchmark.configspace`` as well (ConfigSpace pulls
    in scipy: ~55 MB that a user of the array API never pays)."""
    runs = [_run(_LOAD, str(scenario)) for _ in range(repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {**med, "repeats": repeats}
