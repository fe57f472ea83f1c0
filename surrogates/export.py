"""Training side -> scenario folder, through the runtime's own converter.

Takes in-memory ``lightgbm.CVBooster`` objects (one per target), serialises them with
``CVBooster.model_to_string()`` (the same JSON the authors' ``save_model`` files hold, each
fold truncated at its best iteration exactly as ``CVBooster.predict`` would use it) and
writes a scenario with :func:`smm_bench_plugin.convert.write_lightgbm_scenario`. LightGBM
itself is never imported here; a parity check against it lives in :func:`max_abs_error`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smm_bench_plugin.convert import write_lightgbm_scenario
from smm_bench_plugin.lgbm_text import parse_cv_booster_json
from smm_bench_plugin.scenario import Target

__all__ = ["export_cv_boosters", "max_abs_error"]


def export_cv_boosters(
    folder: str | Path,
    *,
    name: str,
    space: str,
    models: Sequence[tuple[Target, Any]],
    description: str = "",
    provenance: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    derived_features: str | None = None,
) -> Path:
    """Write scenario ``folder`` from ``(Target, CVBooster)`` pairs, in output-column order.

    Features must follow the runtime layout: categorical codes 0..K-1 (choice order) then
    the floats, each group in sorted-name order (see ``smm_bench_plugin.convert``), then the
    ``derived_features`` set's columns if the models were trained with one.
    """
    targets = [(t, parse_cv_booster_json(cvb.model_to_string())[0]) for t, cvb in models]
    return write_lightgbm_scenario(Path(folder), name=name, space=space, targets=targets,
                                   description=description, provenance=provenance, quality=quality,
                                   derived_features=derived_features)


def max_abs_error(folder: str | Path, models: Sequence[tuple[Target, Any]], X: np.ndarray) -> float:
    """max |scenario - clipped CV mean| over rows ``X`` (learner layout), for export reports.

    Both paths count: every column of the full graph, and the objective-only graph that
    ``Benchmark.objective`` uses. ``X`` holds the models' features, derived ones included; the
    scenario gets only the raw columns and computes the derived ones itself."""
    from smm_bench_plugin import Benchmark

    bench = Benchmark(folder)
    n_cat, n_cont = len(bench.cat_names), len(bench.cont_names)
    x_cat, x_cont = (X[:, :n_cat] + 1).astype(np.int32), np.ascontiguousarray(X[:, n_cat:n_cat + n_cont])
    out = bench.evaluate_array(x_cat, x_cont)
    objective = bench.objective_array(x_cat, x_cont)
    err = 0.0
    for j, (t, cvb) in enumerate(models):
        ref = np.array(cvb.predict(X)).mean(0).clip(t.lower, t.upper)
        err = max(err, float(np.abs(out[:, j] - ref).max()))
        if t.name == bench.objective_name:
            err = max(err, float(np.abs(objective - ref).max()))
    return err
