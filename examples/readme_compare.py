"""Regenerate the README's `smm-bench compare` example on a SYNTHETIC TEST scenario.

Until the bundled mini-twin scenarios exist, the README example is produced on a throw-away PS
scenario: real LightGBM CVBoosters (5 folds) trained on a synthetic response of the right shape
(64 inputs in [0, 1]), exported through the runtime's converter into a temporary folder. Its
numbers say nothing about model merging. Once ``smm_ps_mini`` is bundled, run instead:

    smm-bench compare --out examples/output          # default scenario smm_ps_mini

Usage (needs the train, onnx and compare extras): ``python examples/readme_compare.py``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np


def synthetic_ps_scenario(folder: Path) -> Path:
    import lightgbm as lgb

    from smm_bench_plugin.scenario import Target
    from smm_bench_surrogates.export import export_cv_boosters

    rng = np.random.default_rng(0)
    X = rng.random((3000, 64))
    base = 0.45 + 0.25 * np.sin(3 * X[:, 0]) * X[:, 63] + 0.2 * (X[:, 1] - X[:, 32]) ** 2 + 0.15 * X[:, 2] * X[:, 3]
    models = []
    for target, shift in ((Target("gsm8k_ja", "objective", 0.0, 1.0), 0.0),
                          (Target("mgsm_ja", "test", 0.0, 1.0), 0.05)):
        y = base - 0.1 * X[:, 62] + shift + rng.normal(0, 0.03, len(X))
        params = dict(objective="regression", num_leaves=15, learning_rate=0.2, verbose=-1, num_threads=1,
                      min_data_in_leaf=10, seed=0, deterministic=True)
        cv = lgb.cv(params, lgb.Dataset(X, y), num_boost_round=30, nfold=5, stratified=False,
                    return_cvbooster=True, seed=0)
        models.append((target, cv["cvbooster"]))
    return export_cv_boosters(folder, name="synthetic_ps_test", space="ps", models=models,
                              description="SYNTHETIC test scenario (not model-merging data)",
                              provenance={"data": "synthetic response, examples/readme_compare.py"})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(Path(__file__).parent / "output"))
    args, rest = p.parse_known_args()
    from smm_bench_plugin.cli import main as cli_main

    tmp = Path(tempfile.mkdtemp(prefix="smm-readme-"))
    try:
        scenario = synthetic_ps_scenario(tmp / "synthetic_ps_test")
        rc = cli_main(["compare", "--scenario", str(scenario), "--out", args.out, *rest])
        # the README shows table.md and best_so_far.png (summary.json for the figures); the
        # trajectories of a synthetic scenario are not worth committing
        (Path(args.out) / "trajectories.csv").unlink(missing_ok=True)
        return rc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
