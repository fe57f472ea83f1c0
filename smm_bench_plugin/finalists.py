"""Each optimiser run's finalists on a surrogate: its best configuration and the top of its trajectory.

A long optimiser run on a surrogate ends where the surrogate is most optimistic, so what a run
found is worth checking with a true evaluation. This module runs ``compare`` optimisers one
(optimiser, budget, seed) unit at a time and keeps, per unit, the best configuration and
optionally the next ``top`` best distinct ones, with the surrogate's values. A validity check
evaluates the bests for real; an exploitation round adds the top ones to the training data.

    from smm_bench_plugin import load
    from smm_bench_plugin.finalists import run_finalists

    units = run_finalists(load("smm_ps_mini"), ["cmaes", "de"], budgets=[300], seeds=[7], top=2)
    units[0]["config"], units[0]["surrogate_objective"], units[0]["top_configs"]

With ``cache``, each finished unit is written there as JSON (atomically, keyed by the scenario's
model digest and by the BLAS kernel and CPU the process runs on, :func:`~.blas.path_tag`: a
CMA-ES path depends on them), so a killed job loses only the unit in flight and a rerun on an
unchanged scenario and machine runs nothing.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Collection, Sequence

import numpy as np

__all__ = ["run_finalists", "model_digest"]


PROBE_ROWS = 256


def model_digest(bench) -> str:
    """The identity of what a scenario predicts: a digest of every target's values, and of the
    objective graph's, on :data:`PROBE_ROWS` seeded rows of its space.

    Why not the graphs' file digests: metadata that reaches no number (an upgraded integrity
    record, a description) changes the bytes but not one prediction, and must not throw away
    hours of cached optimiser runs; a retrained model changes the values on every row."""
    import hashlib

    rng = np.random.default_rng(0)
    enc = bench._encoder
    levels = np.array([len(c) for c in enc.cat_choices], dtype=np.int64)
    x_cat = (rng.integers(0, np.maximum(levels, 1), size=(PROBE_ROWS, levels.size)) + 1).astype(np.int32)
    x_cont = rng.uniform(enc.lower, enc.upper, size=(PROBE_ROWS, len(enc.cont_names)))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(bench.evaluate_array(x_cat, x_cont), dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(bench.objective_array(x_cat, x_cont), dtype=np.float64).tobytes())
    return h.hexdigest()[:24]


def run_finalists(bench, optimizers: Sequence[str], budgets: Sequence[int], seeds: Sequence[int], *,
                  top: int = 0, cache: str | Path | None = None, progress: bool = False,
                  jobs: int = 1, skip: Collection[tuple[str, int]] = ()) -> list[dict[str, Any]]:
    """One record per (optimiser, budget, seed) unit, budgets outermost, then optimisers, then seeds;
    ``skip`` holds (optimiser, budget) cells that get no units.

    A record holds ``optimizer``, ``budget``, ``seed``, ``config`` (the run's best),
    ``evaluation`` (1-based index of its first arrival), ``surrogate_objective``,
    ``surrogate_test`` (None without a test target), ``seconds`` and, with ``top`` > 0,
    ``top_configs``: up to ``top`` further distinct configurations of the run in decreasing
    surrogate objective, each with its values and evaluation index. ``jobs`` > 1 runs the
    units that are not cached in that many processes (the records do not depend on it).
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top must be a whole number >= 0, got {top!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    from .blas import path_tag

    folder = None if cache is None else Path(cache) / bench.name / model_digest(bench) / path_tag()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    tasks = [(name, int(budget), int(seed)) for budget in budgets for name in optimizers for seed in seeds
             if (name, int(budget)) not in skip]
    units: dict[tuple[str, int, int], dict[str, Any]] = {}
    for task in tasks:
        path = _unit_path(folder, task, top)
        if path is not None and path.exists():
            units[task] = json.loads(path.read_text())
    todo = [t for t in tasks if t not in units]
    if jobs == 1 or len(todo) < 2:
        done = (_run_unit(bench, task, top, _unit_path(folder, task, top), progress) for task in todo)
        units.update(zip(todo, done))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {t: pool.submit(_worker_unit, str(bench.path), t, top, _unit_path(folder, t, top), progress)
                       for t in todo}
            units.update({t: f.result() for t, f in futures.items()})
    return [units[t] for t in tasks]


def _unit_path(folder: Path | None, task: tuple[str, int, int], top: int) -> Path | None:
    name, budget, seed = task
    return None if folder is None else folder / f"{name}-b{budget}-s{seed}-top{top}.json"


def _run_unit(bench, task: tuple[str, int, int], top: int, path: Path | None, progress: bool) -> dict[str, Any]:
    """One optimiser run on the surrogate, reduced to its finalists (and cached at ``path``)."""
    from .compare import compare

    name, budget, seed = task
    t0 = time.perf_counter()
    run = compare(bench, [name], budget=budget, seeds=[seed], keep_rows=top > 0).runs[0]
    unit = {"optimizer": name, "budget": budget, "seed": seed, "config": run.best_config,
            "evaluation": run.best_index + 1, "surrogate_objective": run.best_objective,
            "surrogate_test": _value(run.test_at_best), "seconds": time.perf_counter() - t0}
    if top > 0:
        unit["top_configs"] = _top_configs(bench, run, top)
    if progress:
        print(f"{bench.name}: {name} budget {budget} seed {seed}: surrogate best "
              f"{run.best_objective:.3f} ({unit['seconds']:.1f} s)", flush=True)
    if path is not None:
        _atomic_json(path, unit)
    return unit


def _worker_unit(folder: str, task: tuple[str, int, int], top: int, path: Path | None,
                 progress: bool) -> dict[str, Any]:
    """:func:`_run_unit` in a worker process, which loads the scenario itself."""
    from .kinds import load

    return _run_unit(load(folder), task, top, path, progress)


def _value(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _top_configs(bench, run, k: int) -> list[dict[str, Any]]:
    """The ``k`` best distinct configurations of a run after its best one, with their surrogate values."""
    picked: list[dict[str, Any]] = []
    seen = [run.best_config]  # an optimiser may ask the same point twice: keep distinct configurations
    for i in run.top_indices(len(run.objective)):
        if len(picked) == k:
            break
        config = run.configs_at(bench, [i])[0]
        if config in seen:
            continue
        seen.append(config)
        picked.append({"evaluation": int(i) + 1, "surrogate_objective": float(run.objective[i]),
                       "surrogate_test": _value(run.test[i]), "config": config})
    return picked


def _atomic_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_text(json.dumps(payload, indent=1, default=_plain) + "\n")
    os.replace(tmp, path)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else str(v)


def parse_skip(skip: Sequence[str], optimizers: Sequence[str], budgets: Sequence[int]) -> set[tuple[str, int]]:
    """``["tpe@3000"]`` -> ``{("tpe", 3000)}``, each cell checked against the check's optimisers and budgets."""
    cells = set()
    for item in skip:
        name, _, budget = str(item).partition("@")
        if name not in optimizers or not budget.isdigit() or int(budget) not in [int(b) for b in budgets]:
            raise ValueError(f"skip: {item!r} is not OPTIMIZER@BUDGET with an optimiser of "
                             f"{', '.join(optimizers)} and a budget of {', '.join(str(b) for b in budgets)}")
        cells.add((name, int(budget)))
    return cells


def skip_names(cells: Collection[tuple[str, int]], optimizers: Sequence[str]) -> list[str]:
    """``parse_skip``'s cells back as OPTIMIZER@BUDGET names, by budget then optimiser order (for records)."""
    return [f"{o}@{b}" for o, b in sorted(cells, key=lambda c: (c[1], list(optimizers).index(c[0])))]
