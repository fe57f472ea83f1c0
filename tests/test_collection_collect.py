"""Driver loop: budget, both sets per config, resume by replay (also after SIGKILL).

The evaluator is the synthetic infrastructure stand-in: these tests check the driver, not a model.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from smm_bench_collection import store as S
from smm_bench_collection.collect import cli_collect, collect, family_factory
from smm_bench_collection.synthetic import synthetic_spec

HP = S.load_space("ps").names


def rows_by_id(root):
    return {r["config_id"]: r for r in S.read_dataset(root).to_pylist()}


def test_collect_writes_budget_rows_with_both_sets(tmp_path):
    summary = collect("ps", synthetic_spec("ps"), "random", 20, tmp_path, seed=1, progress=True)
    assert summary.asked == summary.evaluated == summary.rows_in_store == 20
    assert summary.generations == 3 and summary.reused == 0
    table = S.read_dataset(tmp_path)
    assert table.num_rows == 20
    assert set(table.column("sampler").to_pylist()) == {"random"}
    assert table.column("generation").to_pylist().count(2) == 4  # last batch cut by the budget
    assert min(table.column("test_n_items").to_pylist()) > 0
    assert summary.best_objective == max(table.column("objective_acc").to_pylist())
    assert S.validate(tmp_path).ok


@pytest.mark.parametrize("sampler, checkpoint", [("cmaes", True), ("cmaes", False),
                                                 pytest.param("tpe", True, marks=pytest.mark.slow),
                                                 pytest.param("tpe", False, marks=pytest.mark.slow),
                                                 ("random_modelwise", True)])
def test_resume_continues_the_same_run(tmp_path, sampler, checkpoint):
    """Resume from the sampler checkpoint or by pure replay: same rows as one uninterrupted run."""
    full = collect("ps", synthetic_spec("ps"), sampler, 40, tmp_path / "full", seed=3, progress=False)
    kw = dict(seed=3, progress=False, checkpoint=checkpoint)
    collect("ps", synthetic_spec("ps"), sampler, 18, tmp_path / "split", **kw)
    again = collect("ps", synthetic_spec("ps"), sampler, 18, tmp_path / "split", **kw)
    assert again.evaluated == 0 and again.reused == 18
    rest = collect("ps", synthetic_spec("ps"), sampler, 40, tmp_path / "split", **kw)
    assert rest.evaluated == 22 and rest.reused == 18
    a, b = rows_by_id(tmp_path / "full"), rows_by_id(tmp_path / "split")
    assert set(a) == set(b) and len(a) == 40
    for cid in a:
        for k in HP + ["objective_acc", "test_acc", "generation", "batch_index"]:
            assert a[cid][k] == b[cid][k]
    assert full.best_objective == rest.best_objective


CHILD = textwrap.dedent("""
    import sys
    from smm_bench_collection.collect import collect
    from smm_bench_collection.synthetic import synthetic_spec
    collect("dfs", synthetic_spec("dfs", delay=0.03), "catcma", 60, sys.argv[1], seed=5, progress=False)
    print("FINISHED")
""")


@pytest.mark.slow
def test_sigkill_mid_collection_then_resume(tmp_path):
    root = tmp_path / "killed"
    for rows_before_kill in (5, 17, 30):  # mid-generation (CatCMA population 17 on DFS)
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if (root / S.META_FILE).exists() and S.read_dataset(root).num_rows >= rows_before_kill:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = S.read_dataset(root).num_rows if (root / S.META_FILE).exists() else 0
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, timeout=300)
    assert "FINISHED" in out.stdout, out.stderr[-2000:]
    ref = collect("dfs", synthetic_spec("dfs", delay=0.0), "catcma", 60, tmp_path / "ref", seed=5, progress=False)
    assert ref.rows_in_store == 60
    assert set(rows_by_id(root)) == set(rows_by_id(tmp_path / "ref"))
    assert S.validate(root).ok
    assert 0 < partial < 60


def test_corrupt_checkpoint_falls_back_to_replay(tmp_path):
    from smm_bench_collection.collect import _checkpoint_path

    collect("ps", synthetic_spec("ps"), "cmaes", 20, tmp_path / "a", seed=1, progress=False)
    _checkpoint_path(tmp_path / "a", "cmaes", 1).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="replaying"):
        resumed = collect("ps", synthetic_spec("ps"), "cmaes", 40, tmp_path / "a", seed=1, progress=False)
    assert resumed.evaluated == 20
    collect("ps", synthetic_spec("ps"), "cmaes", 40, tmp_path / "b", seed=1, progress=False)
    assert set(rows_by_id(tmp_path / "a")) == set(rows_by_id(tmp_path / "b"))


def _round_off_asks(monkeypatch, delta: float) -> None:
    """Make every ask() return its floats moved by ``delta``, as another machine's BLAS would."""
    from smm_bench_collection.samplers import Sampler

    real_ask = Sampler.ask

    def ask(self):
        configs = real_ask(self)
        moved = [{k: (min(max(v + delta, 0.0), 1.0) if isinstance(v, float) else v) for k, v in c.items()}
                 for c in configs]
        self._pending_order = [tuple(sorted(c.items())) for c in moved]
        self._pending = dict(zip(self._pending_order, self._pending.values()))
        return moved

    monkeypatch.setattr(Sampler, "ask", ask)


def test_a_re_asked_slot_reuses_its_stored_row(tmp_path, monkeypatch):
    """A resume that re-asks a cut round with float round-off stores no second row for the slot;
    a re-ask that really differs stops the run instead of forking its trajectory."""
    collect("ps", synthetic_spec("ps"), "cmaes", 20, tmp_path, seed=2, progress=False)  # 16 + 4 (cut)
    _round_off_asks(monkeypatch, 1e-13)
    again = collect("ps", synthetic_spec("ps"), "cmaes", 20, tmp_path, seed=2, progress=False)
    assert again.evaluated == 0 and again.rows_in_store == 20
    more = collect("ps", synthetic_spec("ps"), "cmaes", 40, tmp_path, seed=2, progress=False)
    assert more.evaluated == 20 and more.rows_in_store == 40
    assert S.repeated_slot_rows(S.read_dataset(tmp_path)) == [] and S.validate(tmp_path).ok
    _round_off_asks(monkeypatch, 1e-3)
    with pytest.raises(RuntimeError, match="generation 2 slot 0, a configuration that differs"):
        collect("ps", synthetic_spec("ps"), "cmaes", 40, tmp_path, seed=2, progress=False)


def test_checkpoint_ahead_of_its_store_falls_back_to_replay(tmp_path):
    """A checkpoint committed without the shards of its last rounds must not skip those rounds."""
    from smm_bench_collection.collect import _checkpoint_path

    collect("ps", synthetic_spec("ps"), "cmaes", 48, tmp_path / "full", seed=4, progress=False)
    collect("ps", synthetic_spec("ps"), "cmaes", 16, tmp_path / "short", seed=4, progress=False)
    _checkpoint_path(tmp_path / "short", "cmaes", 4).write_bytes(_checkpoint_path(tmp_path / "full", "cmaes", 4).read_bytes())
    with pytest.warns(UserWarning, match="no row of generation 2; replaying"):
        resumed = collect("ps", synthetic_spec("ps"), "cmaes", 48, tmp_path / "short", seed=4, progress=False)
    assert resumed.evaluated == 32 and set(rows_by_id(tmp_path / "short")) == set(rows_by_id(tmp_path / "full"))


def test_mismatches_are_refused(tmp_path):
    with pytest.raises(ValueError, match="factory evaluates space 'ps', not 'dfs'"):
        collect("dfs", synthetic_spec("ps"), "random", 1, tmp_path, progress=False)
    with pytest.raises(ValueError, match="unknown sampler 'annealing'; choose from"):
        collect("ps", synthetic_spec("ps"), "annealing", 1, tmp_path, progress=False)
    collect("ps", synthetic_spec("ps"), "random", 2, tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="refusing to mix it with .*family_id='other'"):  # a store keeps one family
        collect("ps", synthetic_spec("ps", family_id="other"), "random", 2, tmp_path / "s", progress=False)


def test_cli_collect_synthetic(tmp_path):
    summary = cli_collect("dfs", "synthetic", "random", 10, tmp_path, executor="local", seed=2, progress=False)
    assert summary.rows_in_store == 10 and summary.space == "dfs"
    assert family_factory("ps", "synthetic").family_id == "synthetic-v1"
    with pytest.raises(ValueError, match="--space must be 'ps' or 'dfs'"):
        cli_collect("xx", "synthetic", "random", 1, tmp_path / "x", progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_cli_collect_with_the_real_merge_evaluator(tmp_path, space):
    """Integration: the real merge-and-generate evaluator on a tiny random mini-format family."""
    import torch
    torch.set_num_threads(1)
    from tiny_family import make_tiny_family

    models = make_tiny_family(tmp_path / "family")
    summary = cli_collect(space, f"mini:{models}", "random", 2, tmp_path / "out", seed=0, progress=False)
    assert summary.rows_in_store == 2 and summary.evaluated == 2
    assert summary.family_id.startswith("mini-")
    report = S.validate(tmp_path / "out")
    assert report.ok, report.errors
    row = S.read_dataset(tmp_path / "out").to_pylist()[0]
    assert row["objective_n_items"] > 0 and row["test_n_items"] > 0
    assert set(__import__("json").loads(row["timings"])) >= {"merge", "generate", "judge"}
