"""Shared types of the collection layer: what one true evaluation returns, and who computes it.

The evaluator (``evaluate.py``) produces :class:`EvalResult`; the store, the executors and the
driver only see this module, so the infrastructure can be tested with a cheap stand-in evaluator
and the real merge-and-generate evaluator can change without touching them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

#: Store column of each target role (the runtime's roles: objective, test, cost).
TARGET_COLUMNS = {"objective": "objective_acc", "test": "test_acc", "cost": "eval_seconds"}

ConfigValue = Union[float, str]
Config = dict[str, ConfigValue]


@dataclass
class SetResult:
    """Per-item verdicts on one evaluation set (objective = gsm8k-ja, test = MGSM-ja).

    Per-item bits are kept, not only the mean, because cheap fidelities (item subsets) and
    IRT-style estimators need them.
    """

    correct: np.ndarray  # bool [n_items]
    number_ok: np.ndarray  # bool [n_items]
    japanese_ok: np.ndarray  # bool [n_items]

    def __post_init__(self) -> None:
        self.correct = np.asarray(self.correct, dtype=bool)
        self.number_ok = np.asarray(self.number_ok, dtype=bool)
        self.japanese_ok = np.asarray(self.japanese_ok, dtype=bool)
        n = self.correct.shape
        if self.number_ok.shape != n or self.japanese_ok.shape != n or len(n) != 1:
            raise ValueError("correct, number_ok and japanese_ok must be 1-D arrays of one length")

    @property
    def n_items(self) -> int:
        return int(self.correct.shape[0])

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.n_items else 0.0

    @property
    def number_ok_rate(self) -> float:
        return float(self.number_ok.mean()) if self.n_items else 0.0

    @property
    def japanese_rate(self) -> float:
        return float(self.japanese_ok.mean()) if self.n_items else 0.0


@dataclass
class EvalResult:
    """One true evaluation of one configuration: both sets, always."""

    objective: SetResult
    test: SetResult
    seconds: float  # wall time of this evaluation (merge + generate + judge; a batch's shared time split)
    timings: dict[str, float] = field(default_factory=dict)  # e.g. {"merge": .., "generate": ..}
    engine_version: str | None = None  # the decoding engine's version (engine_version.py), recorded per row


@runtime_checkable
class Evaluator(Protocol):
    """Merges one configuration and scores it on both sets. Implemented in ``evaluate.py``.

    An evaluator may also offer ``evaluate_batch(configs) -> list[EvalResult]`` (same results,
    in order, several configurations at once); ``evaluate_all`` uses it when it exists.
    """

    space: str  # "ps" | "dfs"
    family_id: str  # e.g. "mini-v1" or "mistral-7b:<ids>"

    def evaluate(self, config: Config) -> EvalResult: ...


def evaluate_all(evaluator: Evaluator, configs: list[Config]) -> list[EvalResult]:
    """Results of ``configs`` in order: one batch when the evaluator takes batches, else one by one."""
    batch = getattr(evaluator, "evaluate_batch", None)
    results = batch(configs) if batch is not None else [evaluator.evaluate(c) for c in configs]
    if len(results) != len(configs):
        raise RuntimeError(f"the evaluator returned {len(results)} results for {len(configs)} configurations")
    return results


class EvaluatorFactory(Protocol):
    """A picklable recipe for an evaluator.

    The driver needs ``space`` and ``family_id`` (for config ids and rows) without building
    the evaluator: at 7B scale only the GPU workers should load the source models.
    """

    space: str
    family_id: str

    def __call__(self) -> Evaluator: ...


@dataclass(frozen=True)
class EvaluatorSpec:
    """An :class:`EvaluatorFactory` that names its builder as ``"module:function"``.

    Plain strings and a kwargs dict pickle to any process (Ray workers, subprocesses) without
    dragging closures or model weights along; the builder is imported where it runs.
    """

    space: str
    family_id: str
    target: str  # "package.module:function"; called as function(**kwargs) -> Evaluator
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Evaluator:
        module_name, _, attr = self.target.partition(":")
        if not attr:
            raise ValueError(f"target must look like 'module:function', got {self.target!r}")
        builder = getattr(importlib.import_module(module_name), attr)
        evaluator = builder(**self.kwargs)
        check_evaluator(evaluator, self.space, self.family_id)
        return evaluator


def check_evaluator(evaluator: Evaluator, space: str, family_id: str) -> None:
    """Refuse an evaluator whose space or family differs from what the store is keyed by."""
    if getattr(evaluator, "space", None) != space or getattr(evaluator, "family_id", None) != family_id:
        raise ValueError(
            f"evaluator reports space={getattr(evaluator, 'space', None)!r}, "
            f"family_id={getattr(evaluator, 'family_id', None)!r}; expected {space!r}, {family_id!r}"
        )
