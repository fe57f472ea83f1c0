"""The recheck: stored rows of the real merge evaluator come out the same when evaluated again,
a changed stored bit is found, and rows of another family are refused. Tiny random family: this
checks the provenance logic and the evaluator's determinism, not a trained model."""
from __future__ import annotations

import json

import pytest
import torch

from smm_bench_collection import store as S
from smm_bench_collection.collect import build_merge_evaluator, cli_collect
from smm_bench_collection.engine_version import ENGINE_VERSION
from smm_bench_collection.recheck import differing_items, main, recheck_folder, spread_rows
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
    assert result.reproducible and result.engine == "fast/bmm"


@pytest.mark.slow  # evaluates merges for real
def test_ps_rows_reproduce_with_the_reference_attention(collected):
    """Engine version 1's attention on rows written by version 2. (The random DFS paths of this
    untrained family are chaotic enough for a near tie to flip an item; see test_collection_evaluate.)"""
    root, family = collected
    result = recheck_folder(root / "ps", build_merge_evaluator("ps", family, decode_attention="broadcast"), 3)
    assert result.reproducible and result.engine == "fast/broadcast"


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
    assert main([str(root / "ps"), str(root / "dfs"), "--rows", "2", "--family", family, "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["rows_checked"], x["reproducible"]) for x in lines] == [(2, True), (2, True)]
    other = make_tiny_family(tmp_path / "other")  # same models, another folder: same family id
    (other / "family.json").write_text(json.dumps({"version": "other"}))
    assert main([str(root / "ps"), "--rows", "1", "--family", f"mini:{other}"]) == 1
    assert "its rows are of family" in capsys.readouterr().out


def test_spread_rows_takes_first_and_last_slot():
    rows = [{"generation": g, "batch_index": b, "config_id": f"{g}-{b}"} for g in range(4) for b in range(5)]
    picked = spread_rows(list(reversed(rows)), 3)
    assert [(r["generation"], r["batch_index"]) for r in picked] == [(0, 0), (2, 0), (3, 4)]
    assert len(spread_rows(rows, 50)) == 20
    assert [r["config_id"] for r in spread_rows(rows, 1)] == ["0-0"]
