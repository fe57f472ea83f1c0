"""Executors: local and Ray (a local 2-CPU Ray instance), including workers that die mid-task.

Evaluations use the synthetic infrastructure stand-in (no model): this tests the pool.
"""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from smm_bench_collection.executors import LocalExecutor, RayExecutor, make_executor
from smm_bench_collection.samplers import make_sampler
from smm_bench_collection.synthetic import SyntheticEvaluator, synthetic_spec

import ray  # noqa: E402 - the [collect] extra: a missing install must fail, not skip


def configs(n=6, seed=0):
    return make_sampler("random", "ps", seed, batch_size=n).ask()


def expected(config):
    return SyntheticEvaluator("ps").evaluate(config).objective.correct


def test_local_executor():
    ex = make_executor("local")
    ex.start(synthetic_spec("ps"))
    cs = configs(4)
    out = list(ex.map_unordered(enumerate(cs)))
    assert [k for k, _, _ in out] == [0, 1, 2, 3]
    for _, c, r in out:
        np.testing.assert_array_equal(r.objective.correct, expected(c))


def test_local_executor_refuses_mismatched_family():
    from smm_bench_collection.types import EvaluatorSpec

    spec = EvaluatorSpec("ps", "other-family", "smm_bench_collection.synthetic:SyntheticEvaluator", {"space": "ps"})
    with pytest.raises(ValueError):
        LocalExecutor().start(spec)


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow  # starts a Ray cluster
def test_ray_pool_results_match_local(ray_local):
    ex = RayExecutor(n_workers=2)
    ex.start(synthetic_spec("ps", delay=0.05))
    cs = configs(8)
    out = list(ex.map_unordered(enumerate(cs)))
    assert sorted(k for k, _, _ in out) == list(range(8))
    for k, c, r in out:
        assert c == cs[k]
        np.testing.assert_array_equal(r.objective.correct, expected(c))
    pids = {pid for _, pid in ex.worker_locations()}
    assert len(pids) == 2 and os.getpid() not in pids
    ex.close()


@pytest.mark.slow  # starts a Ray cluster
def test_ray_worker_dying_mid_task_is_retried(ray_local, tmp_path):
    cs = configs(6)
    threshold = sorted(c["w0_l00"] for c in cs)[2]  # 2 configs crash their worker once
    ex = RayExecutor(n_workers=2)
    ex.start(synthetic_spec("ps", crash_once_dir=str(tmp_path), crash_param="w0_l00", crash_below=threshold))
    out = list(ex.map_unordered(enumerate(cs)))
    assert sorted(k for k, _, _ in out) == list(range(6))
    assert ex.restarts == 2
    assert len(list(tmp_path.glob("crashed-*"))) == 2
    for _, c, r in out:
        np.testing.assert_array_equal(r.objective.correct, expected(c))
    ex.close()


@pytest.mark.slow  # starts a Ray cluster
def test_ray_worker_sigkilled_from_outside(ray_local):
    ex = RayExecutor(n_workers=2)
    ex.start(synthetic_spec("ps", delay=0.6))
    victim = ex.worker_locations()[0][1]
    killer = threading.Timer(0.3, os.kill, args=(victim, signal.SIGKILL))  # both workers are busy then
    cs = configs(4)
    killer.start()
    out = list(ex.map_unordered(enumerate(cs)))
    killer.join()
    assert sorted(k for k, _, _ in out) == list(range(4))
    assert ex.restarts == 1
    assert victim not in {pid for _, pid in ex.worker_locations()}
    for _, c, r in out:
        np.testing.assert_array_equal(r.objective.correct, expected(c))
    ex.close()


@pytest.mark.slow  # starts a Ray cluster
def test_ray_gives_up_after_max_retries(ray_local, tmp_path):
    ex = RayExecutor(n_workers=1, max_retries=1)
    ex.start(synthetic_spec("ps", crash_once_dir=str(tmp_path), crash_param="w0_l00", crash_below=2.0,
                            crash_every_time=True, crash_delay=0.0))
    with pytest.raises(RuntimeError, match="giving up"):
        list(ex.map_unordered(enumerate(configs(1))))
    ex.close()


@pytest.mark.slow  # starts a Ray cluster
def test_collect_through_ray_equals_local(ray_local, tmp_path):
    from smm_bench_collection import store as S
    from smm_bench_collection.collect import collect

    local = collect("ps", synthetic_spec("ps"), "cmaes", 20, tmp_path / "local", seed=4, progress=False)
    remote = collect("ps", synthetic_spec("ps", delay=0.02), "cmaes", 20, tmp_path / "ray", seed=4,
                     executor=RayExecutor(n_workers=2), progress=False)
    assert local.rows_in_store == remote.rows_in_store == 20
    a = {r["config_id"]: r["objective_acc"] for r in S.read_dataset(tmp_path / "local").to_pylist()}
    b = {r["config_id"]: r["objective_acc"] for r in S.read_dataset(tmp_path / "ray").to_pylist()}
    assert a == b



def test_a_batch_reaches_the_store_in_one_write(tmp_path, monkeypatch):
    """collect stores each batch the executor returns with one append (one atomic shard): a kill can
    lose the batch in flight, never keep part of it. One at a time, each result is its own write."""
    from smm_bench_collection import store as S
    from smm_bench_collection.collect import collect

    sizes = []
    append = S.ResultStore.append

    def spy(self, records):
        records = list(records)
        sizes.append(len(records))
        return append(self, records)

    monkeypatch.setattr(S.ResultStore, "append", spy)
    summary = collect("ps", synthetic_spec("ps", batched=True), "random", 10, tmp_path / "b", seed=3, progress=False,
                      executor=LocalExecutor(4))
    assert summary.rows_in_store == 10 and sizes == [4, 4, 2]  # 10 configs asked at once: batches of 4, 4, 2
    sizes.clear()
    collect("ps", synthetic_spec("ps"), "random", 5, tmp_path / "one", seed=3, progress=False,
            executor=LocalExecutor())
    assert sizes == [1] * 5
