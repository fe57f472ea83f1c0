"""The recheck: stored rows of the real merge evaluator come out the same when evaluated again,
a changed stored bit is found, and rows of another family are refused. Tiny random family: this
checks the provenance logic and the evaluator's determinism, not a trained model."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
import torch

from smm_bench_collection import store as S
from smm_bench_collection.collect import build_merge_evaluator, cli_collect, collect, family_factory
from smm_bench_collection.engine_version import ENGINE_VERSION
from smm_bench_collection.recheck import (FlipExplainer, differing_items, main, recheck_folder, save_report,
                                          spread_rows, verdict)
from tiny_family import make_tiny_family


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """Three rows of each space, collected with the real evaluator on the tiny family."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("recheck")
    family = f"mini:{make_tiny_family(root / 'family')}"
    for space in ("ps", "dfs"):
        cli_collect(space, family, "random", 3, root / space, seed=2, progress=False)
    return root, family


@pytest.mark.slow  # evaluates merges for real
@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_stored_rows_reproduce(collected, space):
    root, family = collected
    result = recheck_folder(root / space, build_merge_evaluator(space, family), n_rows=3)
    assert (result.rows_checked, result.rows_identical, result.items_differing) == (3, 3, 0)
    assert result.reproducible and result.engine == "batched" and result.engine_version == ENGINE_VERSION
    assert result.stored_engine_versions == {ENGINE_VERSION: 3}


@pytest.mark.slow  # evaluates merges for real
@pytest.mark.parametrize("attention", ["bmm", "broadcast"])
def test_ps_rows_reproduce_with_the_reference_engines(collected, attention):
    """Engine versions 2 and 1 on rows written by version 3. (The random DFS paths of this
    untrained family are chaotic enough for a near tie to flip an item; see test_collection_evaluate.)"""
    root, family = collected
    ev = build_merge_evaluator("ps", family, engine="fast", decode_attention=attention)
    result = recheck_folder(root / "ps", ev, 3)
    assert result.reproducible and result.engine == f"fast/{attention}"


@pytest.mark.slow  # evaluates merges for real
def test_a_flip_is_explained(collected, tmp_path):
    """A stored bit changed by hand: the recheck finds it, version 2 agrees with the fresh value,
    and the margins along the answer say it was no near tie (a finding, not round-off)."""
    import shutil

    import pyarrow.parquet as pq

    root, family = collected
    folder = shutil.copytree(root / "ps", tmp_path / "ps")
    files = sorted((folder / S.SHARD_DIR).glob("*.parquet"))
    table = pq.read_table(files[0])
    rows = table.to_pylist()
    bits = S.unpack_bits(rows[0]["objective_number_ok_bits"], rows[0]["objective_n_items"])
    bits[2] = not bits[2]
    rows[0]["objective_number_ok_bits"] = S.pack_bits(bits)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), files[0])
    ev = build_merge_evaluator("ps", family)
    result = recheck_folder(folder, ev, n_rows=3, explainer=FlipExplainer(ev))
    assert (result.rows_identical, result.items_differing, len(result.flips)) == (2, 1, 1)
    flip = result.flips[0]
    assert (flip.config_id, flip.set, flip.item) == (rows[0]["config_id"], "objective", 2)
    assert flip.stored["number_ok"] != flip.now["number_ok"] and flip.reference_agrees_with == "now"
    assert flip.engines_part_at is None and flip.smallest_margin >= 0
    assert not flip.near_tie and "NOT a near tie" in verdict(result)
    report = json.loads(save_report([result], tmp_path / "r.json", "recheck").read_text())
    assert report["items_differing"] == 1 and report["folders"][0]["flips"][0]["item"] == 2


@pytest.mark.slow  # evaluates merges for real
def test_a_run_of_engine_version_2_resumes_on_version_3(tmp_path):
    """Rows of both engines in one run folder: the run continues on its trajectory and each row
    records the engine that evaluated it."""
    torch.set_num_threads(1)
    family = f"mini:{make_tiny_family(tmp_path / 'family')}"
    collect("ps", family_factory("ps", family, engine="fast"), "random", 5, tmp_path / "mixed", seed=3, progress=False)
    collect("ps", family_factory("ps", family), "random", 10, tmp_path / "mixed", seed=3, progress=False)
    collect("ps", family_factory("ps", family), "random", 10, tmp_path / "fresh", seed=3, progress=False)
    assert S.validate(tmp_path / "mixed").ok
    mixed, fresh = S.read_dataset(tmp_path / "mixed").to_pylist(), S.read_dataset(tmp_path / "fresh").to_pylist()
    assert {r["config_id"] for r in mixed} == {r["config_id"] for r in fresh} and len(mixed) == 10
    versions = sorted((r["generation"], r["batch_index"], json.loads(r["versions"])["fastlm"]) for r in mixed)
    assert [v for *_, v in versions] == ["2"] * 5 + ["3"] * 5
    same = {r["config_id"]: r["objective_acc"] for r in fresh}
    assert all(same[r["config_id"]] == r["objective_acc"] for r in mixed)


@pytest.mark.slow  # evaluates merges for real
def test_rows_record_the_engine_version(collected):
    root, _ = collected
    assert {json.loads(v)["fastlm"] for v in S.read_dataset(root / "ps").column("versions").to_pylist()} \
        == {ENGINE_VERSION}


@pytest.mark.slow  # evaluates merges for real
def test_a_changed_stored_bit_is_counted(collected):
    root, family = collected
    row = S.read_dataset(root / "ps").to_pylist()[0]
    ev = build_merge_evaluator("ps", family)
    result = ev.evaluate({n: row[n] for n in S.load_space("ps").names})
    assert differing_items(row, result) == (0, 0.0)
    bits = S.unpack_bits(row["test_correct_bits"], row["test_n_items"])
    bits[3] = not bits[3]
    changed = {**row, "test_correct_bits": S.pack_bits(bits)}
    items, change = differing_items(changed, result)
    assert items == 1 and change == pytest.approx(1 / row["test_n_items"])


@pytest.mark.slow  # evaluates merges for real
def test_the_command_checks_folders_and_refuses_another_family(collected, tmp_path, capsys):
    root, family = collected
    assert main([str(root / "ps"), str(root / "dfs"), "--rows", "2", "--family", family, "--json", "--batch", "1",
                 "--save", str(tmp_path / "report.json")]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["rows_checked"], x["reproducible"]) for x in lines] == [(2, True), (2, True)]
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["rows_checked"], report["rows_identical"], report["items_differing"]) == (4, 4, 0)
    assert report["command"].startswith("python -m smm_bench_collection.recheck")
    other = make_tiny_family(tmp_path / "other")  # same models, another folder: same family id
    (other / "family.json").write_text(json.dumps({"version": "other"}))
    assert main([str(root / "ps"), "--rows", "1", "--family", f"mini:{other}"]) == 1
    assert "its rows are of family" in capsys.readouterr().out


@pytest.mark.slow  # evaluates merges for real
def test_a_killed_recheck_resumes_after_its_saved_folders(collected, tmp_path, capsys):
    """The report is written after every folder; the same command again takes the folders it holds
    from it (here the PS entry, marked by hand so that a re-evaluation would show) and checks the rest."""
    root, family = collected
    argv = [str(root / "ps"), str(root / "dfs"), "--rows", "2", "--family", family, "--json", "--batch", "2",
            "--save", str(tmp_path / "report.json")]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    ps = {**report["folders"][0], "rows_identical": 1, "reproducible": False}  # as if killed during DFS
    (tmp_path / "report.json").write_text(json.dumps({**report, "folders": [ps]}))
    capsys.readouterr()
    assert main(argv) == 1  # the saved PS verdict counts
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["rows_identical"] for x in lines] == [1, 2]
    report = json.loads((tmp_path / "report.json").read_text())
    assert [f["folder"] for f in report["folders"]] == [str(root / "ps"), str(root / "dfs")]
    assert (report["rows_checked"], report["rows_identical"]) == (4, 3)
    other = [a if a != "2" else "1" for a in argv]  # another command: the saved folders are not its
    assert main(other) == 0 and json.loads((tmp_path / "report.json").read_text())["rows_checked"] == 2


def test_spread_rows_takes_first_and_last_slot():
    rows = [{"generation": g, "batch_index": b, "config_id": f"{g}-{b}"} for g in range(4) for b in range(5)]
    picked = spread_rows(list(reversed(rows)), 3)
    assert [(r["generation"], r["batch_index"]) for r in picked] == [(0, 0), (2, 0), (3, 4)]
    assert len(spread_rows(rows, 50)) == 20
    assert [r["config_id"] for r in spread_rows(rows, 1)] == ["0-0"]
