"""Ray lifecycle of RayExecutor: it stops the Ray instance it started and only that one.

Kept apart from test_collection_executors.py, whose module-scoped fixture keeps Ray up.
"""
from __future__ import annotations

import pytest
from smm_bench_collection.executors import RayExecutor
from smm_bench_collection.synthetic import synthetic_spec
from test_collection_executors import configs

import ray  # noqa: E402 - [collect] extra: a missing install must fail, not skip

pytestmark = pytest.mark.slow  # starts a Ray cluster


def test_ray_executor_shuts_down_only_the_ray_it_started():
    """A collection run in a process must not leave Ray up for the next one (CI found this)."""
    assert not ray.is_initialized()
    ex = RayExecutor(n_workers=1, ray_init=dict(num_cpus=1, include_dashboard=False, log_to_driver=False,
                                                 configure_logging=False))
    ex.start(synthetic_spec("ps"))
    assert ray.is_initialized()
    assert len(list(ex.map_unordered(enumerate(configs(2))))) == 2
    ex.close()
    assert not ray.is_initialized()

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ex = RayExecutor(n_workers=1)
        ex.start(synthetic_spec("ps"))
        ex.close()
        assert ray.is_initialized()  # the caller's instance is the caller's to stop
    finally:
        ray.shutdown()
