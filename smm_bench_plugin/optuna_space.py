"""A scenario as Optuna sees it: distributions for ask/tell, an objective for ``study.optimize``.

    import optuna
    import smm_bench_plugin as smm
    from smm_bench_plugin.optuna_space import optuna_objective, tpe_sampler

    bench = smm.load("smm_ps_mini")
    study = optuna.create_study(direction="maximize", sampler=tpe_sampler(seed=0))
    study.optimize(optuna_objective(bench), n_trials=100)
    bench.evaluate(study.best_params)

Categoricals become ``CategoricalDistribution`` over their choices (strings), floats
``FloatDistribution`` over their bounds; the order is the scenario's column order, categoricals
first (what ``compare``'s TPE asks, so its runs replay from the seed). Any kind of benchmark
works (surrogate, table, live). Optuna is imported when a function here is called.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from .optional import require

__all__ = ["optuna_distributions", "optuna_objective", "tpe_sampler", "MULTIVARIATE_TPE", "INDEPENDENT_TPE",
           "INDEPENDENT_TPE_LABEL"]


# Two TPE algorithms, pinned so a future Optuna does not silently change either.
#: ``compare``'s "tpe": Optuna 5's defaults, multivariate TPE. It is also the faster one:
#: independent TPE is ~5x slower per trial at 64 dimensions.
MULTIVARIATE_TPE = {"n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": True, "group": False,
                    "constant_liar": False}
#: The collected runs' TPE (sampler "tpe" of the data collection, the report's Figure 1): Optuna
#: 3/4's defaults, independent TPE. Optuna 5 switched ``multivariate``
#: (None -> True for one objective) and ``constant_liar`` (False -> True).
INDEPENDENT_TPE = {**MULTIVARIATE_TPE, "multivariate": False}
#: How a figure or table names the collected runs' TPE, so that "tpe" always means ``compare``'s.
INDEPENDENT_TPE_LABEL = "tpe (independent)"


def optuna_distributions(space: Any) -> dict[str, Any]:
    """``{name: optuna distribution}`` of a benchmark (or ``optimizers.ArraySpace``): categoricals, then floats."""
    distributions = require("optuna.distributions", "compare", "the Optuna helper")
    tables = getattr(space, "_encoder", space)  # a Benchmark's validated tables, or an ArraySpace
    dists: dict[str, Any] = {n: distributions.CategoricalDistribution(list(ch))
                             for n, ch in zip(tables.cat_names, tables.cat_choices)}
    dists.update({n: distributions.FloatDistribution(float(lo), float(hi))
                  for n, lo, hi in zip(tables.cont_names, tables.lower, tables.upper)})
    return dists


def optuna_objective(bench: Any, target: str | None = None) -> Callable[[Any], float]:
    """``trial -> value`` for ``study.optimize``: the trial suggests every hyperparameter, the
    benchmark answers ``target`` (default: the objective; maximise it)."""
    dists = optuna_distributions(bench)
    if target is not None and target not in bench.target_names:
        raise ValueError(f"target must be one of {', '.join(bench.target_names)}; got {target!r}")

    def objective(trial) -> float:
        config = {name: (trial.suggest_float(name, dist.low, dist.high) if hasattr(dist, "low")
                         else trial.suggest_categorical(name, dist.choices)) for name, dist in dists.items()}
        if target is None:
            return bench.objective(config)
        return bench.evaluate(config)[0][target]

    return objective


def tpe_sampler(seed: int):
    """Optuna's TPESampler with the settings ``compare`` pins (:data:`MULTIVARIATE_TPE`:
    Optuna changed its defaults across versions, so results name their settings)."""
    optuna = require("optuna", "compare", "the Optuna helper")
    optuna.logging.set_verbosity(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, **MULTIVARIATE_TPE)
