"""True evaluations of given configurations, kept in a result store so that none is paid twice.

A sampler run (``collect``) decides its own configurations; a validity check, an exploitation
round or a user verifying an optimiser's finalists brings configurations from elsewhere (an
optimiser run on a surrogate). :class:`TrueEvaluations` evaluates those for real and appends
each result to a store the moment it exists (a batched evaluator's every ``STORE_EVERY``
configurations), like ``collect`` does, so a killed check resumes
with the same command and pays only for what it had not evaluated yet. A configuration already
in the store (by ``config_id``) is read back, never evaluated again.

Rows are written with the slot (``sampler``, ``run_seed``, ``generation``, 0), where
``generation`` counts the store's rows of that (sampler, run_seed): a store of brought
configurations has no rounds, only an order of arrival.

    truth = TrueEvaluations("collection/data/checks/mini_ps/endpoints", "ps", sampler="endpoint")
    rows = truth.evaluate([config_a, config_b])   # [{"config_id", "objective_acc", "test_acc", ...}, ...]
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import pyarrow.compute as pc

from .executors import Executor, LocalExecutor
from .store import Record, ResultStore, RowMeta
from .types import Config, EvaluatorFactory

RESULT_COLUMNS = ("config_id", "objective_acc", "test_acc", "eval_seconds")
#: configurations per batch of a batched evaluator: its results are stored when the batch ends,
#: so a killed call loses at most this many (the engine's gain is flat beyond its cache groups)
STORE_EVERY = 8


class TrueEvaluations:
    """Evaluate configurations for real through a store that caches every result (see module doc).

    ``factory`` defaults to the ``family``'s evaluator factory (``collect.family_factory``); the
    evaluator itself is built on the first configuration that needs a real evaluation (loading
    a family takes seconds) and kept for later calls.
    """

    def __init__(self, store_dir: str | Path, space: str, *, family: str = "mini", sampler: str = "brought",
                 run_seed: int = 0, factory: EvaluatorFactory | None = None, executor: Executor | None = None):
        if not sampler or not isinstance(sampler, str):
            raise ValueError(f"sampler must be a non-empty name for the rows' slot, got {sampler!r}")
        if factory is None:
            from .collect import family_factory

            factory = family_factory(space, family)
        if factory.space != space:
            raise ValueError(f"factory evaluates space {factory.space!r}, not {space!r}")
        self.store_dir, self.space, self.factory = Path(store_dir), space, factory
        self.sampler, self.run_seed = sampler, int(run_seed)
        self._executor = executor or LocalExecutor(batch_size=STORE_EVERY)
        self._started = False
        self.evaluated = 0  # real evaluations made by this object (the rest came from the store)
        self.seconds = 0.0  # their wall time

    @property
    def family_id(self) -> str:
        return self.factory.family_id

    def stored(self) -> dict[str, dict[str, Any]]:
        """Every stored result, by config_id (read-only: no lock, no evaluation)."""
        if not (self.store_dir / "STORE.json").exists():
            return {}
        with ResultStore(self.store_dir, self.space, self.family_id, writable=False) as store:
            return _rows_by_id(store)

    def evaluate(self, configs: Sequence[Mapping[str, Any]], progress: bool = False) -> list[dict[str, Any]]:
        """One result per configuration, in order: stored ones read back, the others evaluated and stored.

        Each result is a dict with ``config_id``, ``objective_acc``, ``test_acc``, ``eval_seconds``
        and ``evaluated`` (True when this call paid a real evaluation for it).
        """
        with ResultStore(self.store_dir, self.space, self.family_id) as store:  # the writer lock
            ids = [store.config_id(dict(c)) for c in configs]
            known = _rows_by_id(store)
            slot = _next_slot(store, self.sampler, self.run_seed)
            todo: dict[str, Config] = {}
            for cid, config in zip(ids, configs):
                if cid not in known and cid not in todo:
                    todo[cid] = {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(config).items()}
            fresh: set[str] = set()
            if todo:
                if not self._started:
                    self._executor.start(self.factory)
                    self._started = True
                t0 = time.perf_counter()
                for n, (cid, config, result) in enumerate(self._executor.map_unordered(list(todo.items())), 1):
                    store.append([Record(config, result, RowMeta(self.sampler, self.run_seed, slot, 0))])
                    slot += 1
                    known[cid] = {"config_id": cid, "objective_acc": result.objective.accuracy,
                                  "test_acc": result.test.accuracy, "eval_seconds": result.seconds}
                    fresh.add(cid)
                    if progress:
                        print(f"{self.store_dir.name}: {n}/{len(todo)} evaluated for real, objective "
                              f"{result.objective.accuracy:.3f} ({result.seconds:.1f} s)", flush=True)
                self.evaluated += len(fresh)
                self.seconds += time.perf_counter() - t0
                store.compact()
        return [{**known[cid], "evaluated": cid in fresh} for cid in ids]

    def close(self) -> None:
        """Release the evaluator (and its workers)."""
        if self._started:
            self._executor.close()
            self._started = False


def _rows_by_id(store: ResultStore) -> dict[str, dict[str, Any]]:
    table = store.read(columns=list(RESULT_COLUMNS))
    return {row["config_id"]: row for row in table.to_pylist()}


def _next_slot(store: ResultStore, sampler: str, run_seed: int) -> int:
    """The next free ``generation`` of (sampler, run_seed) in the store: one past the largest used."""
    table = store.read(columns=["sampler", "run_seed", "generation"])
    mine = table.filter(pc.and_(pc.equal(table.column("sampler"), sampler),
                                pc.equal(table.column("run_seed"), run_seed)))
    return 0 if mine.num_rows == 0 else int(pc.max(mine.column("generation")).as_py()) + 1
