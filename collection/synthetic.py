"""A cheap, deterministic stand-in evaluator for testing the collection INFRASTRUCTURE.

It is not a model and its numbers mean nothing about merging: a closed-form score of the
config is turned into per-item bits, so the store, executors and driver can be exercised in
milliseconds (and dry-run with ``--family synthetic``). It lives in the package, not in tests,
so that Ray workers and subprocesses can import it by name.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .space import FloatParam, load_space
from .types import Config, EvalResult, EvaluatorSpec, SetResult

SYNTHETIC_FAMILY = "synthetic-v1"


class SyntheticEvaluator:
    """Closed-form "accuracy": floats near 70% of their range and slots "B" score high.

    Item i of a set with n items has difficulty (i + 0.5) / n; the number is "right" when the
    score exceeds it, the response "Japanese" unless the item index is a multiple of 7 and the
    score is below 0.5. ``correct`` = number right AND Japanese, as in the real judge.

    Fault injection for executor tests: with ``crash_once_dir`` set, the first evaluation of a
    config whose ``crash_param`` value is below ``crash_below`` kills the whole process
    (``os._exit``) after ``crash_delay`` seconds, and leaves a marker so a retry succeeds
    (``crash_every_time`` ignores the marker: a config that kills every worker).
    """

    def __init__(self, space: str = "ps", family_id: str = SYNTHETIC_FAMILY, n_objective: int = 64,
                 n_test: int = 32, delay: float = 0.0, crash_once_dir: str | None = None,
                 crash_param: str | None = None, crash_below: float = 0.0, crash_delay: float = 0.2,
                 crash_every_time: bool = False):
        self.space = space
        self.family_id = family_id
        self._space = load_space(space)
        self.n_objective, self.n_test = n_objective, n_test
        self.delay = delay
        self.crash_once_dir = crash_once_dir
        self.crash_param = crash_param or self._space.floats[0].name
        self.crash_below = crash_below
        self.crash_delay = crash_delay
        self.crash_every_time = crash_every_time
        self.pid = os.getpid()

    def score(self, config: Config) -> float:
        config = self._space.canonical(config)
        terms = []
        for p in self._space.params:
            v = config[p.name]
            if isinstance(p, FloatParam):
                u = (float(v) - p.lower) / (p.upper - p.lower)
                terms.append(1.0 - abs(u - 0.7) / 0.7)
            else:
                terms.append(1.0 if v == "B" else 0.0)
        return float(np.clip(np.mean(terms), 0.0, 1.0))

    def _set(self, score: float, n: int, offset: float) -> SetResult:
        difficulty = (np.arange(n) + 0.5) / n
        number_ok = score + offset > difficulty
        japanese_ok = ~((np.arange(n) % 7 == 0) & (score < 0.5))
        return SetResult(correct=number_ok & japanese_ok, number_ok=number_ok, japanese_ok=japanese_ok)

    def _maybe_crash(self, config: Config) -> None:
        if self.crash_once_dir is None or float(config[self.crash_param]) >= self.crash_below:
            return
        marker = Path(self.crash_once_dir) / f"crashed-{config[self.crash_param]!r}"
        if marker.exists() and not self.crash_every_time:
            return
        marker.touch()
        time.sleep(self.crash_delay)  # die mid-task, not before it started
        os._exit(17)

    def evaluate(self, config: Config) -> EvalResult:
        start = time.perf_counter()
        self._maybe_crash(config)
        if self.delay:
            time.sleep(self.delay)
        s = self.score(config)
        objective = self._set(s, self.n_objective, 0.0)
        test = self._set(s, self.n_test, -0.05)
        seconds = time.perf_counter() - start
        return EvalResult(objective=objective, test=test, seconds=seconds, timings={"synthetic": seconds})


class BatchedSyntheticEvaluator(SyntheticEvaluator):
    """The stand-in with ``evaluate_batch``: configurations evaluated in order, results returned together.

    For the batched path of executors and ``collect``: a crash injected into a batch's config
    loses the whole batch, as a real batched evaluation would.
    """

    def evaluate_batch(self, configs: list[Config]) -> list[EvalResult]:
        return [self.evaluate(c) for c in configs]


def synthetic_spec(space: str = "ps", batched: bool = False, **kwargs) -> EvaluatorSpec:
    """A picklable factory of :class:`SyntheticEvaluator` (for executors and ``--family synthetic``);
    ``batched`` gives :class:`BatchedSyntheticEvaluator`."""
    family_id = kwargs.pop("family_id", SYNTHETIC_FAMILY)
    cls = "BatchedSyntheticEvaluator" if batched else "SyntheticEvaluator"
    return EvaluatorSpec(space=space, family_id=family_id, target=f"smm_bench_collection.synthetic:{cls}",
                         kwargs={"space": space, "family_id": family_id, **kwargs})
