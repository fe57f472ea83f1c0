"""Result store: schema, dedup, resume, validation and SIGKILL crash safety.

The evaluator here is the synthetic infrastructure stand-in (no model involved).
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest

from smm_bench_collection import store as S
from smm_bench_collection.samplers import make_sampler
from smm_bench_collection.synthetic import SyntheticEvaluator


def records(space="ps", n=5, seed=0):
    ev = SyntheticEvaluator(space)
    sampler = make_sampler("random", space, seed, batch_size=n)
    return [S.Record(c, ev.evaluate(c), S.RowMeta("random", seed, 0, i)) for i, c in enumerate(sampler.ask())]


def test_config_id_is_canonical_and_exact():
    a = S.config_id("ps", "fam", {"b": 0.1, "a": 1})
    assert a == S.config_id("ps", "fam", {"a": 1.0, "b": np.float64(0.1)})
    assert a != S.config_id("dfs", "fam", {"a": 1.0, "b": 0.1})
    assert a != S.config_id("ps", "other", {"a": 1.0, "b": 0.1})
    assert a != S.config_id("ps", "fam", {"a": 1.0, "b": np.nextafter(0.1, 1)})


def test_bits_roundtrip():
    bits = np.random.default_rng(0).random(1069) < 0.3
    data = S.pack_bits(bits)
    assert len(data) == 134
    np.testing.assert_array_equal(S.unpack_bits(data, 1069), bits)


@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_append_read_roundtrip_and_schema(tmp_path, space):
    recs = records(space)
    with S.ResultStore(tmp_path, space, "synthetic-v1") as store:
        assert store.append(recs) == 5
        assert store.append(recs) == 0  # dedup by config_id
        assert len(store) == 5
    table = S.read_dataset(tmp_path)
    assert table.num_rows == 5
    names = table.column_names
    hp = S.load_space(space).names
    assert names[: len(hp)] == hp == sorted(hp)
    row = table.to_pylist()[2]
    rec = recs[2]
    assert row["config_id"] == S.config_id(space, "synthetic-v1", rec.config)
    assert row["objective_acc"] == rec.result.objective.accuracy
    back = S.set_result_from_row(row, "test")
    np.testing.assert_array_equal(back.correct, rec.result.test.correct)
    np.testing.assert_array_equal(back.japanese_ok, rec.result.test.japanese_ok)
    assert json.loads(row["versions"])["pyarrow"]
    assert S.validate(tmp_path).ok
    df = S.read_dataset(tmp_path, as_pandas=True)
    assert len(df) == 5


def test_refuses_other_family_or_space_and_second_writer(tmp_path):
    S.ResultStore(tmp_path, "ps", "fam-a").close()
    with pytest.raises(ValueError, match="refusing to mix it with space='ps', family_id='fam-b'"):
        S.ResultStore(tmp_path, "ps", "fam-b")
    with pytest.raises(ValueError, match="refusing to mix it with space='dfs', family_id='fam-a'"):
        S.ResultStore(tmp_path, "dfs", "fam-a")
    with S.ResultStore(tmp_path, "ps", "fam-a"):
        with pytest.raises(RuntimeError, match="another process is writing to the store"):
            S.ResultStore(tmp_path, "ps", "fam-a")


def test_compaction_and_interrupted_compaction(tmp_path):
    recs = records(n=12)
    store = S.ResultStore(tmp_path, "ps", "synthetic-v1")
    for r in recs:
        store.append([r])
    assert len(S._data_files(tmp_path / "shards")) == 12
    before = S.read_dataset(tmp_path)
    # simulate a kill between the compacted file's rename and the deletion of its inputs
    files = S._data_files(tmp_path / "shards")
    merged = S._read_files(files, store.schema)
    S._atomic_write_table(merged, tmp_path / "shards" / "compact-0-x.parquet")
    report = S.validate(tmp_path)
    assert report.ok and report.n_rows == 12 and len(report.warnings) == 12
    assert S.read_dataset(tmp_path).num_rows == 12
    assert store.compact() == 12
    assert len(S._data_files(tmp_path / "shards")) == 1
    assert S.read_dataset(tmp_path).equals(before)
    assert not S.validate(tmp_path).warnings
    store.close()


def test_validate_catches_corruption(tmp_path):
    with S.ResultStore(tmp_path, "ps", "synthetic-v1") as store:
        store.append(records(n=3))
    shard = S._data_files(tmp_path / "shards")[0]
    table = pq.read_table(shard)
    bad = table.set_column(table.schema.get_field_index("objective_acc"), "objective_acc",
                           [[0.123] * 3]).cast(table.schema)
    pq.write_table(bad, tmp_path / "shards" / "part-bad.parquet")
    report = S.validate(tmp_path)
    assert not report.ok and any("disagrees" in e or "different content" in e for e in report.errors)
    (tmp_path / "shards" / "part-bad.parquet").write_bytes(b"PAR1 torn")
    report = S.validate(tmp_path)
    assert any("unreadable" in e for e in report.errors)


CHILD = textwrap.dedent("""
    import random, sys, time
    from smm_bench_collection import store as S
    from smm_bench_collection.samplers import make_sampler
    from smm_bench_collection.synthetic import SyntheticEvaluator
    S.COMPACT_EVERY = 7
    root, n_planned = sys.argv[1], int(sys.argv[2])
    ev = SyntheticEvaluator("ps", n_objective=200, n_test=100)
    sampler = make_sampler("random", "ps", 123, batch_size=n_planned)
    planned = sampler.ask()
    store = S.ResultStore(root, "ps", "synthetic-v1")
    print("READY", flush=True)
    rng = random.Random()
    i = 0
    while i < n_planned:
        k = rng.randint(1, 3)
        batch = [S.Record(c, ev.evaluate(c), S.RowMeta("random", 123, 0, i + j))
                 for j, c in enumerate(planned[i:i + k])]
        store.append(batch)
        i += k
        time.sleep(rng.random() * 0.01)
    store.compact()
    print("DONE", len(store))
""")


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    root = tmp_path / "store"
    n_planned = 200
    cmd = [sys.executable, "-c", CHILD, str(root), str(n_planned)]
    rng = random.Random(0)
    kills = 0
    attempts = 0
    while kills < 21 and attempts < 60:
        attempts += 1
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().startswith("READY")  # store opened: now the writes begin
        time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if root.exists() and (root / S.META_FILE).exists():
            report = S.validate(root)
            assert report.ok, report.errors[:3]
    assert kills >= 20
    partial = S.read_dataset(root).num_rows
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"DONE {n_planned}" in out.stdout

    table = S.read_dataset(root)
    ev = SyntheticEvaluator("ps", n_objective=200, n_test=100)
    planned = make_sampler("random", "ps", 123, batch_size=n_planned).ask()
    expected = {S.config_id("ps", "synthetic-v1", c): c for c in planned}
    ids = table.column("config_id").to_pylist()
    assert len(ids) == len(set(ids)) == n_planned
    assert set(ids) == set(expected)
    for row in table.to_pylist():
        config = expected[row["config_id"]]
        assert all(row[k] == v for k, v in config.items())
        assert row["objective_acc"] == ev.evaluate(config).objective.accuracy
    report = S.validate(root)
    assert report.ok and report.n_rows == n_planned and not report.warnings
    assert not list((root / "shards").glob(".tmp-*"))
    assert 0 < partial <= n_planned


def test_plan_seal_compacts_validates_and_respects_a_runner(tmp_path):
    """The pre-commit step: one checked file per run; a store a runner still writes is refused."""
    from smm_bench_collection import plan

    run = tmp_path / "mini_ps" / "random-s0"
    with S.ResultStore(run, "ps", "synthetic-v1") as store:
        for r in records(n=6):
            store.append([r])
    before = S.read_dataset(run)
    reports = plan.seal("ps", tmp_path)
    assert list(reports) == ["random-s0"]
    assert reports["random-s0"].ok and reports["random-s0"].n_rows == 6
    assert len(S._data_files(run / "shards")) == 1
    assert S.read_dataset(run).equals(before)
    # a corrupted row is reported, not hidden by the compaction
    shard = S._data_files(run / "shards")[0]
    table = pq.read_table(shard)
    bad = table.set_column(table.schema.get_field_index("objective_acc"), "objective_acc",
                           [[0.5] * 6]).cast(table.schema)
    pq.write_table(bad, shard)
    assert not plan.seal("ps", tmp_path)["random-s0"].ok
    with S.ResultStore(run, "ps", "synthetic-v1"):  # a runner holds the lock
        with pytest.raises(RuntimeError, match="another process is writing"):
            plan.seal("ps", tmp_path)
    with pytest.raises(FileNotFoundError, match="dfs"):
        plan.seal("dfs", tmp_path)


def test_repeated_slots_are_reported_and_repaired_keeping_the_first(tmp_path):
    """Rows re-asked by a resume before collect matched slots: validate flags them, seal drops them.
    "First" is by timestamp, not by file order: the re-ask is written last but stamped earliest
    here, so validate, compact and slot_holders must all pick it."""
    recs = records(n=4)
    with S.ResultStore(tmp_path, "ps", "synthetic-v1") as store:
        store.append(recs)
        moved = {k: v + 1e-13 for k, v in recs[1].config.items()}  # same slot, round-off config
        earlier = recs[1].timestamp - timedelta(seconds=5)
        store.append([S.Record(moved, recs[1].result, recs[1].meta, timestamp=earlier)])
        assert len(store) == 5
    report = S.validate(tmp_path)
    first_id, moved_id = (S.config_id("ps", "synthetic-v1", c) for c in (recs[1].config, moved))
    assert not report.ok and len(report.errors) == 1 and "holds two configurations" in report.errors[0]
    assert f"({moved_id} and {first_id})" in report.errors[0]  # the earliest row is named as the holder
    holders = S.slot_holders(S.read_dataset(tmp_path).to_pylist())
    assert len(holders) == 4 and moved_id in {r["config_id"] for r in holders.values()}
    with S.ResultStore(tmp_path, "ps", "synthetic-v1") as store:
        assert store.compact() == 5  # a plain compaction changes nothing
        assert store.compact(drop_repeated_slots=True) == 4 and len(store) == 4
    table = S.read_dataset(tmp_path)
    assert sorted(table.column("config_id").to_pylist()) == sorted(
        [moved_id, *(S.config_id("ps", "synthetic-v1", r.config) for r in recs if r is not recs[1])])
    assert S.validate(tmp_path).ok
