"""Per-call cost of the working tree against a git revision, measured interleaved in one process.

    python -m bench.ab_revision --rev HEAD~1 --scenarios smm_ps_mini,smm_dfs_mini

Why: a change to validation or loading must not slow ``Benchmark.objective()``, and two runs of
the suite at different times on a shared machine differ by more than such a change. Here the
revision's ``smm_bench_plugin`` (from ``git archive``, with its own copy of each bundled scenario
folder as that revision shipped it) is imported beside the working tree's under another module
name, and both serve the same 256 configurations, call by call alternately
(:func:`bench.timing.measure_pair`). Printed: median microseconds per call and the ratio
(working tree / revision) for ``objective(dict)``, ``objective(Configuration)`` and
``evaluate(dict)``. With ``--parity-rows N`` it first checks that both give the same bits from
``evaluate_array`` and ``objective_array`` on the space's corners, centre and N seeded rows (a
change of scenario format, such as an in-place upgrade, must not change a prediction). With
``--load-runs N`` it also loads each scenario N times per side in fresh interpreters, old and new
alternately (:data:`bench.process_cases._LOAD`: load seconds and peak RSS, medians).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

from .process_cases import _LOAD
from .timing import measure_pair

ROOT = Path(__file__).resolve().parent.parent
POOL = 256


def _revision_package(rev: str, into: Path):
    """The revision's ``smm_bench_plugin`` imported as ``smm_bench_plugin_<rev>``, and its scenarios' folder."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "smm_bench_plugin", "surrogates/scenarios"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    name = "smm_bench_plugin_rev"
    spec = importlib.util.spec_from_file_location(name, into / "smm_bench_plugin" / "__init__.py",
                                                  submodule_search_locations=[str(into / "smm_bench_plugin")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, into / "surrogates" / "scenarios"


def _load_once(folder: Path, package_root: Path | None) -> dict:
    env = dict(os.environ)
    if package_root is not None:  # the revision's package first on the path of the fresh interpreter
        env["PYTHONPATH"] = os.pathsep.join([str(package_root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run([sys.executable, "-c", _LOAD, str(folder)], capture_output=True, text=True, timeout=600,
                         env=env, cwd=package_root or ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare_loads(rev: str, root: Path, old_folder: Path, new_folder: Path, runs: int) -> None:
    old, new = [], []
    for _ in range(runs):
        old.append(_load_once(old_folder, root))
        new.append(_load_once(new_folder, None))
    for key, unit in (("load_s", "s"), ("peak_rss_mb", "MB")):
        a, b = statistics.median(r[key] for r in old), statistics.median(r[key] for r in new)
        print(f"{new_folder.name} {key}: {rev} {a:.3f} {unit}, working tree {b:.3f} {unit}, ratio {b / a:.3f}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="git revision to compare against (e.g. HEAD~3, main)")
    parser.add_argument("--scenarios", default="smm_ps_mini,smm_dfs_mini", help="bundled scenario names")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--parity-rows", type=int, default=0, help="also compare predictions on this many rows")
    parser.add_argument("--load-runs", type=int, default=0, help="also time loads in fresh interpreters")
    args = parser.parse_args(argv)
    import smm_bench_plugin as new

    with tempfile.TemporaryDirectory() as tmp:
        old, old_scenarios = _revision_package(args.rev, Path(tmp))
        for name in args.scenarios.split(","):
            b_new = new.load(name)
            b_old = old.load(old_scenarios / name)
            if args.parity_rows:
                x_cat, x_cont = b_new._encoder.probe_rows(n_random=args.parity_rows, seed=123)
                rungs = getattr(b_new, "ladder", None)  # a multi-fidelity scenario: each row at a rung in turn
                at = {} if rungs is None else {"fidelity": np.resize(np.asarray(rungs), len(x_cont))}
                same = all(getattr(b_old, f)(x_cat, x_cont, **at).tobytes() ==
                           getattr(b_new, f)(x_cat, x_cont, **at).tobytes() for f in ("evaluate_array", "objective_array"))
                print(f"{name}: evaluate_array and objective_array {'bit-identical' if same else 'DIFFER'} on "
                      f"{len(x_cont):,} rows{'' if rungs is None else ' across the rungs'} ({args.rev} vs working "
                      "tree)", flush=True)
            if args.load_runs:
                _compare_loads(args.rev, Path(tmp), old_scenarios / name, b_new.path, args.load_runs)
            confs = b_new.configspace.sample_configuration(POOL)
            dicts = [dict(c) for c in confs]
            cases = {"objective(dict)": ("objective", dicts), "objective(Configuration)": ("objective", list(confs)),
                     "evaluate(dict)": ("evaluate", dicts)}
            for label, (method, pool) in cases.items():
                nxt_a, nxt_b = itertools.cycle(pool).__next__, itertools.cycle(pool).__next__
                f_old, f_new = getattr(b_old, method), getattr(b_new, method)
                t_old, t_new = measure_pair(lambda: f_old(nxt_a()), lambda: f_new(nxt_b()), repeats=args.repeats,
                                            min_time=args.min_time)
                print(f"{name} {label}: {args.rev} {t_old.median * 1e6:.1f} us, working tree "
                      f"{t_new.median * 1e6:.1f} us, ratio {t_new.median / t_old.median:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
