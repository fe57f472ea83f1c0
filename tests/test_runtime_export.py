"""Training-side export (in-memory CVBoosters -> scenario) incl. a cost target clipped to >= 0."""

from __future__ import annotations

import json

import numpy as np
from conftest import dfs_inputs, synthetic_target, train_cv

from smm_bench_plugin import Benchmark
from smm_bench_plugin.scenario import Target
from smm_bench_surrogates.export import export_cv_boosters, max_abs_error


def test_export_with_cost_target(tmp_path):
    rng = np.random.default_rng(21)
    X = dfs_inputs(rng, 1200)
    acc = train_cv(X, synthetic_target(X, rng), rounds=10)
    test = train_cv(X, synthetic_target(X, rng, 0.05), rounds=10)
    seconds = train_cv(X, 300 * (X[:, 40] - 0.9) + rng.normal(0, 5, len(X)), rounds=10)  # goes negative
    models = [(Target("acc", "objective", 0.0, 1.0), acc), (Target("acc_test", "test", 0.0, 1.0), test),
              (Target("eval_seconds", "cost", 0.0, float("inf"), "minimize"), seconds)]
    folder = export_cv_boosters(tmp_path / "s", name="tiny_dfs", space="dfs", models=models)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["targets"][2] == {"name": "eval_seconds", "role": "cost", "lower": 0.0, "upper": None,
                                  "direction": "minimize", "description": ""}
    bench = Benchmark(folder)
    assert bench.targets[2].upper == float("inf")
    Xt = dfs_inputs(rng, 5000)
    assert max_abs_error(folder, models, Xt) <= 1e-12
    out = bench.evaluate_array((Xt[:, :32] + 1).astype(np.int32), Xt[:, 32:])
    raw_cost = np.array(seconds.predict(Xt)).mean(0)
    assert (raw_cost < 0).any() and out[:, 2].min() == 0.0 and out[:, 2].max() > 1.0
