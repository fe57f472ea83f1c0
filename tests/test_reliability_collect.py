"""Crash-resume of the whole collection driver: ``collect()`` SIGKILLed at random
moments >= 20 times and resumed each time ends with exactly the planned configurations, no
duplicates and no torn rows; the same with a Ray worker SIGKILLed mid-task during collect().

test_collection_store.py kills a bare store writer 21 times, test_collection_collect.py
kills collect() 3 times, test_collection_executors.py kills a Ray worker inside the
executor; this adds the >= 20 kills of collect() itself and the worker kill under collect().
Evaluations use the synthetic stand-in (cheap), so the driver and store are what is tested.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from smm_bench_collection import store as S
from smm_bench_collection.collect import collect
from smm_bench_collection.synthetic import SyntheticEvaluator, synthetic_spec

BUDGET = 120
CHILD = textwrap.dedent("""
    import sys
    from smm_bench_collection.collect import collect
    from smm_bench_collection.executors import LocalExecutor
    from smm_bench_collection.synthetic import synthetic_spec
    print("START", flush=True)
    batch = int(sys.argv[5])  # 0: one configuration at a time; else batches of that many
    spec = synthetic_spec("ps", batched=batch > 0, delay=float(sys.argv[4]))
    s = collect("ps", spec, sys.argv[2], int(sys.argv[3]), sys.argv[1], seed=9, progress=False,
                executor=LocalExecutor(batch or None))
    print("FINISHED", s.rows_in_store, flush=True)
""")

pytestmark = pytest.mark.slow  # SIGKILL loops and a Ray cluster


def _rows(root):
    return S.read_dataset(root).to_pylist()


def _check_store(root, planned_ids: set[str] | None = None) -> int:
    """No duplicate ids, no torn rows (every row validates and re-scores), subset of the plan."""
    report = S.validate(root)
    assert report.ok, report.errors[:3]
    rows = _rows(root)
    ids = [r["config_id"] for r in rows]
    assert len(ids) == len(set(ids))
    ev = SyntheticEvaluator("ps")
    for r in rows:
        config = {k: r[k] for k in S.load_space("ps").names}
        assert S.config_id("ps", "synthetic-v1", config) == r["config_id"]
        assert r["objective_acc"] == ev.evaluate(config).objective.accuracy  # the row is whole, not torn
    if planned_ids is not None:
        assert set(ids) <= planned_ids
    return len(rows)


@pytest.mark.parametrize("sampler,batch", [("cmaes", 0), ("random", 0), ("random", 4)])
def test_collect_sigkilled_twenty_times_then_resumed(tmp_path, sampler, batch):
    """One configuration at a time, and in batches of 4 (a kill loses the batch in flight)."""
    reference = collect("ps", synthetic_spec("ps"), sampler, BUDGET, tmp_path / "ref", seed=9, progress=False)
    planned = {r["config_id"] for r in _rows(tmp_path / "ref")}
    assert reference.rows_in_store == len(planned) == BUDGET

    root = tmp_path / "killed"
    # 0.25 s per evaluation (0.08 s in batches of 4: 0.32 s a batch): a child lives <= 1.2 s after
    # its imports, so it stores a few rows per life and the run cannot finish before the 20th
    # kill, however fast the machine
    delay = "0.08" if batch else "0.25"
    cmd = [sys.executable, "-c", CHILD, str(root), sampler, str(BUDGET), delay, str(batch)]
    rng = random.Random(1234)
    kills = attempts = 0
    progress = []
    while kills < 20 and attempts < 80:
        attempts += 1
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().startswith("START")
        time.sleep(rng.uniform(0.3, 1.2))  # interpreter + imports take ~0.3-1 s: kills land everywhere
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if (root / S.META_FILE).exists():
            progress.append(_check_store(root, planned))
        if progress and progress[-1] == BUDGET:
            break
    assert kills >= 20, (kills, attempts, progress)
    out = subprocess.run(cmd[:-2] + ["0.0", str(batch)], capture_output=True, text=True, timeout=300)
    assert "FINISHED" in out.stdout, out.stderr[-2000:]
    assert _check_store(root, planned) == BUDGET
    assert {r["config_id"] for r in _rows(root)} == planned  # exactly the planned configs
    assert not list((root / "shards").glob(".tmp-*"))
    assert progress == sorted(progress)  # rows lost: none (the store only ever grew)
    assert not batch or all(n % batch == 0 or n == BUDGET for n in progress)  # whole batches only
    print(f"{sampler} (batch {batch or 1}): {kills} SIGKILLs survived in {attempts} runs, rows after each: {progress}, "
          f"final {BUDGET}/{BUDGET} planned, 0 duplicates, 0 rows lost")


def test_ray_worker_killed_during_collect(tmp_path):
    import ray
    from smm_bench_collection.executors import RayExecutor

    reference = collect("ps", synthetic_spec("ps"), "cmaes", 24, tmp_path / "ref", seed=4, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        # batches of 2 (0.6 s): an actor answers ``where`` only between batches, and the killer
        # must find both workers alive twice before the run's 24 evaluations are done
        ex = RayExecutor(n_workers=2, batch_size=2)
        killed = []

        def killer():  # SIGKILL one worker while both are busy, twice
            for _ in range(2):
                while not getattr(ex, "worker_locations", None) or not _safe_locations(ex):
                    time.sleep(0.05)
                time.sleep(0.5)
                pid = _safe_locations(ex)[0][1]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                time.sleep(1.0)

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        summary = collect("ps", synthetic_spec("ps", delay=0.3), "cmaes", 24, tmp_path / "ray", seed=4,
                          executor=ex, progress=False)
        t.join(timeout=30)
    finally:
        ray.shutdown()
    assert len(killed) == 2 and ex.restarts >= 2
    assert summary.rows_in_store == 24
    a = {r["config_id"]: r["objective_acc"] for r in _rows(tmp_path / "ref")}
    b = {r["config_id"]: r["objective_acc"] for r in _rows(tmp_path / "ray")}
    assert a == b and reference.rows_in_store == 24
    assert S.validate(tmp_path / "ray").ok


def _safe_locations(ex):
    try:
        return ex.worker_locations()
    except Exception:  # noqa: BLE001 - pool not started yet or a worker just died
        return []
