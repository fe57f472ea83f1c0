"""The validity report's studies, computed: true and surrogate runs, rankings, real evaluations.

Each function returns numbers (arrays, dicts); :mod:`.report_plots` draws them,
:mod:`.report_markdown` writes them up and :mod:`.report` runs them in order into ``report.json``.
The collection's samplers, stores and model family are imported inside the functions that need them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

AIMS = {"objective": (0.96, 0.88), "test": (0.93, 0.82)}  # the aims of the bundled scenarios: R², Kendall tau
UNSEEN_SEED_OFFSET = 1000  # surrogate-only Figure 1 runs use seed + this: no collected run has such a seed
FIGURE1_SAMPLERS = {"ps": ("random", "cmaes", "tpe"), "dfs": ("random", "catcma", "tpe")}
#: the model-based ones, whose runs the report holds out whole (uniform random has no trajectory)
NEW_RUN_SAMPLERS = {space: tuple(s for s in samplers if s != "random") for space, samplers in FIGURE1_SAMPLERS.items()}


def true_runs(data_dir: str | Path, sampler: str, seeds: Sequence[int], budget: int,
              until: str | None = None) -> dict[int, np.ndarray]:
    """Objective values of complete true runs, in evaluation order: {seed: values[budget]}.

    Order = (generation, batch_index) as the collection stored it, which is the order the
    sampler asked. A run with fewer than ``budget`` rows is left out (still being collected).
    ``until``: only rows evaluated at or before that time (the scenario's own data).
    """
    from smm_bench_collection.plan import run_folder

    from smm_bench_collection.store import read_stores

    root = Path(data_dir)
    if sampler == "random":
        folder = run_folder(root, "random", 0)
        if not folder.exists():
            return {}
        values = _ordered_objective(read_stores(folder, until))
        return {k: values[k * budget:(k + 1) * budget] for k in range(len(values) // budget) if k in seeds}
    runs = {}
    for seed in seeds:
        folder = run_folder(root, sampler, seed)
        if folder.exists():
            values = _ordered_objective(read_stores(folder, until))
            if len(values) >= budget:
                runs[seed] = values[:budget]
    return runs


def _ordered_objective(table) -> np.ndarray:
    gen = np.asarray(table.column("generation").to_numpy())
    idx = np.asarray(table.column("batch_index").to_numpy())
    acc = np.asarray(table.column("objective_acc").to_numpy(), dtype=np.float64)
    return acc[np.lexsort((idx, gen))]


def surrogate_run(bench, space: str, sampler: str, seed: int, budget: int) -> np.ndarray:
    """The collection's own ask/tell sampler, same seed, asking the surrogate for ``budget`` values."""
    from smm_bench_collection.samplers import make_sampler

    s = make_sampler(sampler, space, seed)
    values: list[float] = []
    while len(values) < budget:
        configs = s.ask()
        ys = [r[bench.objective_name] for r in bench.evaluate(configs)]
        values.extend(ys)
        s.tell(configs, ys)
    return np.asarray(values[:budget])


def final_ranking(curves: dict[str, dict[int, np.ndarray]]) -> list[tuple[str, float]]:
    means = {name: float(np.mean([v.max() for v in runs.values()])) for name, runs in curves.items() if runs}
    return sorted(means.items(), key=lambda kv: -kv[1])


def reference_configs(bench, space: str) -> dict[str, dict[str, Any]]:
    """Named configurations a user meets first: the ConfigSpace default, and the PS parents."""
    refs = {"default configuration": dict(bench.configspace.get_default_configuration())}
    if space == "ps":
        from smm_bench_collection.mini.gates import corner

        refs.update({"base model (all weights 0)": corner(None), "Japanese expert (w0 = 1, w1 = 0)": corner(0),
                     "math expert (w0 = 0, w1 = 1)": corner(1)})
    return refs


def _true_evaluator(space: str, family_id: str, family: str):
    """(the ``family``'s evaluator, None), or (None, why not) when it is not the dataset's family.

    Why the check: a true value from another family than the one the surrogate learnt is no
    check of the surrogate; families are compared by id."""
    from smm_bench_collection.collect import family_factory

    factory = family_factory(space, family)
    if factory.family_id != family_id:
        return None, f"the local '{family}' family is {factory.family_id}, the data is {family_id}"
    return factory(), None


def reference_points(bench, space: str, family_id: str, family: str = "mini") -> dict[str, Any]:
    """Each reference configuration evaluated for real (the dataset's family) and by the surrogate."""
    evaluator, skipped = _true_evaluator(space, family_id, family)
    if skipped:
        return {"skipped": skipped}
    points = {}
    for name, config in reference_configs(bench, space).items():
        true = evaluator.evaluate(config)
        pred = bench.evaluate(config)[0]
        points[name] = {"true_objective": true.objective.accuracy, "surrogate_objective": pred[bench.objective_name],
                        "true_test": true.test.accuracy, "surrogate_test": pred[bench.test_name]}
    return {"family": family, "points": points}


def true_at_best(runs, space: str, family_id: str, family: str) -> dict[str, Any]:
    """{optimiser: {seed: true objective/test of the run's best configuration}} (real merges)."""
    evaluator, skipped = _true_evaluator(space, family_id, family)
    if skipped:
        return {"skipped": skipped}
    out: dict[str, Any] = {}
    for run in runs:
        true = evaluator.evaluate(run.best_config)
        out.setdefault(run.optimizer, {})[str(run.seed)] = {
            "surrogate_objective": run.best_objective, "true_objective": true.objective.accuracy,
            "surrogate_test": run.test_at_best, "true_test": true.test.accuracy}
    return out


def data_check(meta: dict[str, Any], rows) -> dict[str, Any]:
    """Are the rows the report reads (a :class:`~.train.Dataset`) the rows the model was trained on?
    (count and id digest)"""
    prov = meta.get("provenance") or {}
    check = {"rows": int(len(rows.X)), "model_rows": prov.get("rows"), "rows_sha256": rows.rows_sha256,
             "model_rows_sha256": prov.get("rows_sha256")}
    if prov.get("rows_sha256"):
        check["same_rows"] = rows.rows_sha256 == prov["rows_sha256"]
    else:  # scenarios trained before the digest was recorded: the count is all we can compare
        check["same_rows"] = None
        check["same_count"] = prov.get("rows") == len(rows.X)
    return check
