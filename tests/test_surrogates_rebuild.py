"""The rebuild chain: its commands come from the bundled scenarios' own records and parse with
the real CLIs; a failing step stops the chain naming its log. (The chain's steps themselves are
tested where they live: plan --seal, train, report, summary.)"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from smm_bench_surrogates import rebuild

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_train_command_is_the_scenarios_own_without_until(space):
    from smm_bench_plugin.cli import build_parser

    argv = rebuild.train_argv(space)
    assert argv[:3] == (sys.executable, "-m", "smm_bench_plugin.cli") and "--until" not in argv
    args = build_parser().parse_args(list(argv[3:]))  # the real CLI accepts it
    meta = json.loads((REPO / rebuild.BUNDLED[space] / "meta.json").read_text())
    tuning = {t["tuning"]["n_trials"] for t in meta["quality"]["targets"].values()}
    assert {args.trials} == tuning and args.space == space
    assert args.out == rebuild.BUNDLED[space] and args.data == meta["provenance"]["dataset"]
    assert args.derived == meta["provenance"]["derived_features"]["set"]
    assert args.ensemble == meta["provenance"]["ensemble_requested"]


def test_the_chain_in_order_and_from_a_step(capsys, monkeypatch):
    stages = rebuild.plan_jobs(["ps", "dfs"])
    assert [[j.log_name for j in s] for s in stages] == [
        ["seal-ps", "seal-dfs"], ["card-all"], ["train-ps", "train-dfs"], ["report-ps", "report-dfs"], ["readme-all"]]
    assert [s[0].step for s in rebuild.plan_jobs(["dfs"], "report", bench=True)] == ["report", "readme", "bench"]
    assert [s[0].step for s in rebuild.plan_jobs(["dfs"], "train")] == ["train", "report", "readme"]  # no card
    monkeypatch.setattr(rebuild, "train_argv", lambda space: 1 / 0)  # a later step needs no train command
    assert rebuild.main(["--dry-run", "--from", "readme"]) == 0
    assert capsys.readouterr().out.strip() == "python -m smm_bench_surrogates.summary --doc docs/scenarios.md"


def test_a_running_collection_stops_the_chain_before_anything_runs(tmp_path, monkeypatch, capsys):
    """Whatever --from says: sealing rewrites stores and training reads every row."""
    from smm_bench_collection.store import ResultStore, writer_active

    run = tmp_path / "mini_dfs" / "tpe-s2"
    with ResultStore(run, "dfs", "synthetic-v1"):
        assert writer_active(run) and rebuild.active_writers(tmp_path) == [run]
        monkeypatch.setattr(rebuild, "active_writers", lambda: [rebuild.REPO / "collection" / "data" / "x"])
        monkeypatch.setattr(rebuild, "run_stage", lambda *a: pytest.fail("a stage ran beside a runner"))
        assert rebuild.main(["--from", "readme"]) == 1
        assert "collection runners are writing collection/data/x; stop them first" in capsys.readouterr().err
    monkeypatch.undo()
    assert not writer_active(run) and rebuild.active_writers(tmp_path) == []


def test_a_failed_job_stops_the_chain_and_names_its_log(tmp_path):
    ok = rebuild.Job("ok", "ps", (sys.executable, "-c", "print('fine')"))
    bad = rebuild.Job("bad", "dfs", (sys.executable, "-c", "import sys; print('broken'); sys.exit(3)"))
    rebuild.run_stage([ok], tmp_path)
    assert (tmp_path / "ok-ps.log").read_text() == "fine\n"
    with pytest.raises(RuntimeError, match=rf"bad-dfs failed \(exit 3\); see {tmp_path / 'bad-dfs.log'}"):
        rebuild.run_stage([ok, bad], tmp_path)
    assert (tmp_path / "bad-dfs.log").read_text() == "broken\n"


def test_a_rebuild_can_adopt_another_derived_set_and_nothing_else_changes(capsys):
    recorded = rebuild.train_argv("dfs")
    adopted = rebuild.train_argv("dfs", "auto")
    assert adopted.count("--derived") == 1 and adopted[adopted.index("--derived") + 1] == "auto"
    strip = [w for i, w in enumerate(recorded) if w != "--derived" and (i == 0 or recorded[i - 1] != "--derived")]
    assert [w for i, w in enumerate(adopted) if w != "--derived" and adopted[i - 1] != "--derived"] == strip
    (train,) = rebuild.plan_jobs(["dfs"], "train", derived={"dfs": "dfs-path-v2"})[0]
    assert train.argv[-2:] == ("--derived", "dfs-path-v2")
    for bad, why in [(["--derived", "dfs"], "expected SPACE=SET"),
                     (["--derived", "dfs=dfs-path-v9"], "derived must be 'auto', 'none' or one of"),
                     (["--derived", "dfs=ps-mean-v1"], "set ps-mean-v1 is for another space's layout"),
                     (["--derived", "ps=auto", "--spaces", "dfs"], "ps is not rebuilt"),
                     (["--derived", "dfs=auto", "--from", "report"], "after train: nothing would be trained")]:
        with pytest.raises(SystemExit):  # refused by argparse before anything runs, naming the flag
            rebuild.main(["--dry-run", *bad])
        assert why in capsys.readouterr().err
