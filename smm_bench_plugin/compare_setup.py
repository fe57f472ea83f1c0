"""What both comparisons check before they run: the scenario, the counts, the seeds, the processes.

:mod:`~smm_bench_plugin.compare` (a budget of evaluations) and
:mod:`~smm_bench_plugin.mf_compare` (a budget of simulated seconds on a multi-fidelity
scenario) take the same arguments and must refuse bad ones with the same words, so both import
them from here; neither imports the other. ``smm-bench compare`` picks one of the two with
:func:`is_multifidelity`.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import Benchmark
from .kinds import load
from .paths import DEFAULT_SCENARIO, resolve_scenario
from .scenario import read_meta

__all__ = ["DEFAULT_SCENARIO", "open_scenario", "is_multifidelity", "positive_count", "seed_list", "default_jobs",
           "sample_std"]


def open_scenario(scenario: str | Path | Benchmark) -> Benchmark:
    """``scenario`` loaded (a name or folder), or as given (a :class:`Benchmark`)."""
    if isinstance(scenario, Benchmark):
        return scenario
    try:
        return load(scenario)
    except FileNotFoundError as e:
        hint = (" (the bundled mini scenarios are not installed yet)" if str(scenario) == DEFAULT_SCENARIO else "")
        raise FileNotFoundError(f"cannot compare on scenario {str(scenario)!r}{hint}: {e}; "
                                "pass --scenario NAME or --scenario FOLDER") from None


def is_multifidelity(scenario: str | os.PathLike) -> bool:
    """Whether ``scenario`` (name or folder) has a fidelity; an unknown one is left to the comparison to report."""
    try:
        return "fidelity" in read_meta(resolve_scenario(scenario))
    except (FileNotFoundError, ValueError):
        return False


def positive_count(name: str, value: Any, also: str = "") -> int:
    """A positive whole number (Python or numpy integer; not a bool, not a float)."""
    allowed = f"a positive integer{' ' + also if also else ''}"
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})") from None
    if n < 1:
        raise ValueError(f"{name} must be {allowed}, got {n}")
    return n


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as a number of seeds (0..n-1) or as the distinct seeds themselves."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(positive_count("seeds", seeds)))
    if isinstance(seeds, (bool, str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a number of seeds or a list of integer seeds, got {seeds!r}")
    seeds_given = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seeds: {seed!r} is not an integer seed")
        seeds_given.append(int(seed))
    if not seeds_given:
        raise ValueError("seeds: need at least one seed")
    if len(set(seeds_given)) != len(seeds_given):
        raise ValueError(f"seeds: a seed is listed twice in {seeds_given} (its runs would be identical)")
    return seeds_given


def default_jobs() -> int:
    """Processes for the runs when none are asked for: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def sample_std(x: np.ndarray) -> float:
    """Standard deviation over the runs that have a value (ddof=1; 0 for a single run)."""
    x = x[~np.isnan(x)]
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0
