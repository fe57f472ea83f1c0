"""Where evaluations run: in this process (default) or on a pool of Ray actors.

The driver (``collect.py``) owns the sampler and the store; an executor only turns configs into
:class:`EvalResult` s and hands them back as they finish (unordered), so the driver can write each
result to the store the moment it exists and a crash loses only in-flight configs.

Executors evaluate in *batches* (``types.evaluate_all``: one ``evaluate_batch`` call when the
evaluator has it): the local executor a round's configurations ``batch_size`` at a time, the Ray
executor a round split over its workers, each worker's share one batch. A batch's results are
handed back together when it finishes, so a crash loses the batches in flight.

Ray: one actor per GPU (or per CPU slot) builds its evaluator once from a picklable factory, so
the source models are loaded once per worker and then updated in place per config. A batch
whose actor died (OOM, preemption, SIGKILL, driver-side ``ray.kill``) is retried on a fresh actor;
an exception raised *by the evaluator* is not retried (it would fail again) and propagates.
"""
from __future__ import annotations

import collections
import os
import socket
from typing import Any, Hashable, Iterable, Iterator, Protocol

from .types import Config, EvalResult, EvaluatorFactory, check_evaluator, evaluate_all

Task = tuple[Hashable, Config]
Done = tuple[Hashable, Config, EvalResult]


def batches(tasks: list[Task], size: int | None) -> list[list[Task]]:
    """Consecutive batches of at most ``size`` tasks (all in one when ``size`` is None)."""
    if size is not None and size < 1:
        raise ValueError(f"batch_size must be at least 1 (or None: a whole round), got {size}")
    step = len(tasks) if size is None else size
    return [tasks[i:i + step] for i in range(0, len(tasks), max(step, 1))]


class Executor(Protocol):
    n_workers: int

    def start(self, factory: EvaluatorFactory) -> None: ...

    def map_unordered(self, tasks: Iterable[Task]) -> Iterator[Done]: ...

    def map_batches(self, tasks: Iterable[Task]) -> Iterator[list[Done]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Evaluate in the driver process, ``batch_size`` configs per batch (None: a whole round at once).

    The default; no extra services.
    """

    n_workers = 1

    def __init__(self, batch_size: int | None = None) -> None:
        batches([], batch_size)  # checks it
        self.batch_size = batch_size
        self._evaluator = None

    def start(self, factory: EvaluatorFactory) -> None:
        if self._evaluator is None:
            self._evaluator = factory()
            check_evaluator(self._evaluator, factory.space, factory.family_id)

    def map_unordered(self, tasks: Iterable[Task]) -> Iterator[Done]:
        for done in self.map_batches(tasks):
            yield from done

    def map_batches(self, tasks: Iterable[Task]) -> Iterator[list[Done]]:
        """The results of each batch together, as they exist: a caller that stores a batch in one
        write never keeps part of one (a kill between two rows of a batch would)."""
        if self._evaluator is None:
            raise RuntimeError("call start(factory) first")
        if not hasattr(self._evaluator, "evaluate_batch"):  # one at a time: each result as it exists
            for key, config in tasks:
                yield [(key, config, self._evaluator.evaluate(config))]
            return
        for batch in batches(list(tasks), self.batch_size):
            results = evaluate_all(self._evaluator, [config for _, config in batch])
            yield [(key, config, result) for (key, config), result in zip(batch, results)]

    def close(self) -> None:
        self._evaluator = None


class _EvalWorker:
    """Body of a Ray actor: builds the evaluator once, then evaluates configs."""

    def __init__(self, factory: EvaluatorFactory):
        self.evaluator = factory()
        check_evaluator(self.evaluator, factory.space, factory.family_id)

    def evaluate(self, config: Config) -> EvalResult:
        return self.evaluator.evaluate(config)

    def evaluate_batch(self, configs: list[Config]) -> list[EvalResult]:
        return evaluate_all(self.evaluator, configs)

    def where(self) -> tuple[str, int]:
        return socket.gethostname(), os.getpid()


class RayExecutor:
    """An ActorPool-like unordered map over Ray actors with retry of tasks lost to dead actors.

    ``resources_per_worker`` defaults to one GPU per actor when the cluster has GPUs, else one
    CPU; ``n_workers`` defaults to the number of such slots. A round is split into one batch per
    worker, each of at most ``batch_size`` configs (None: no cap). ``ray.init`` is called with
    ``ray_init`` kwargs only when Ray is not initialised yet (pass ``{"address": "auto"}`` for
    a running cluster); a Ray instance the executor started is shut down again by ``close``, one
    it found running is left alone, so a process can run several collections in a row.
    """

    def __init__(self, n_workers: int | None = None, resources_per_worker: dict[str, float] | None = None,
                 max_retries: int = 3, ray_init: dict[str, Any] | None = None, batch_size: int | None = None):
        batches([], batch_size)  # checks it
        self.batch_size = batch_size
        self._requested_workers = n_workers
        self._resources = resources_per_worker
        self.max_retries = max_retries
        self._ray_init = ray_init or {}
        self._factory: EvaluatorFactory | None = None
        self._actors: list = []
        self._actor_cls = None
        self.n_workers = 0
        self.restarts = 0
        self._owns_ray = False

    def start(self, factory: EvaluatorFactory) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(**self._ray_init)
            self._owns_ray = True
        resources = self._resources
        if resources is None:
            gpus = ray.cluster_resources().get("GPU", 0)
            resources = {"num_gpus": 1} if gpus >= 1 else {"num_cpus": 1}
        if self._requested_workers is None:
            key = "GPU" if "num_gpus" in resources else "CPU"
            per = resources.get("num_gpus", resources.get("num_cpus", 1)) or 1
            self.n_workers = max(1, int(ray.cluster_resources().get(key, 1) // per))
        else:
            self.n_workers = int(self._requested_workers)
        self._factory = factory
        self._actor_cls = ray.remote(_EvalWorker).options(max_restarts=0, max_task_retries=0, **resources)
        self._actors = [self._new_actor() for _ in range(self.n_workers)]

    def _new_actor(self):
        return self._actor_cls.remote(self._factory)

    def worker_locations(self) -> list[tuple[str, int]]:
        """(host, pid) of every live actor (blocks until each has built its evaluator)."""
        import ray

        return ray.get([a.where.remote() for a in self._actors])

    def map_unordered(self, tasks: Iterable[Task]) -> Iterator[Done]:
        for done in self.map_batches(tasks):
            yield from done

    def map_batches(self, tasks: Iterable[Task]) -> Iterator[list[Done]]:
        """Each batch's results together, in the order the batches finish."""
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        if self._factory is None:
            raise RuntimeError("call start(factory) first")
        tasks = list(tasks)
        per_worker = -(-len(tasks) // max(self.n_workers, 1)) if tasks else 1
        size = per_worker if self.batch_size is None else min(per_worker, self.batch_size)
        queue: collections.deque[tuple[list[Task], int]] = collections.deque(
            (batch, 0) for batch in batches(tasks, size))
        idle = list(self._actors)
        in_flight: dict[Any, tuple[Any, list[Task], int]] = {}
        while queue or in_flight:
            while idle and queue:
                actor = idle.pop()
                batch, attempt = queue.popleft()
                in_flight[actor.evaluate_batch.remote([config for _, config in batch])] = (actor, batch, attempt)
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            actor, batch, attempt = in_flight.pop(ref)
            try:
                results = ray.get(ref)
            except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                if attempt >= self.max_retries:
                    keys = [key for key, _ in batch]
                    raise RuntimeError(f"configs {keys!r} lost {attempt + 1} workers; giving up") from exc
                idle.append(self._replace(actor))
                queue.appendleft((batch, attempt + 1))
                continue
            idle.append(actor)
            yield [(key, config, result) for (key, config), result in zip(batch, results)]

    def _replace(self, dead):
        import ray

        try:
            ray.kill(dead, no_restart=True)
        except Exception:  # noqa: BLE001 - it is gone already
            pass
        fresh = self._new_actor()
        self._actors = [fresh if a is dead else a for a in self._actors]
        self.restarts += 1
        return fresh

    def close(self) -> None:
        import ray

        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self._actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False


def make_executor(name: str, **kwargs) -> LocalExecutor | RayExecutor:
    if name == "local":
        return LocalExecutor(**{k: v for k, v in kwargs.items() if k == "batch_size"})
    if name == "ray":
        return RayExecutor(**kwargs)
    raise ValueError(f"unknown executor {name!r}; choose 'local' or 'ray'")
