"""The round-by-round table of docs/endpoints.md comes from the check records, never by hand."""
from __future__ import annotations

import json
from pathlib import Path

from smm_bench_surrogates import round_table as RT

REPO = Path(__file__).resolve().parents[1]


def test_the_docs_block_is_the_records_table():
    doc = (REPO / "docs" / "endpoints.md").read_text()
    block = doc[doc.index(RT.BEGIN) + len(RT.BEGIN):doc.index(RT.END)]
    assert block.strip() == RT.rounds_block().strip(), \
        "docs/endpoints.md's rounds block differs: run `python -m smm_bench_surrogates.round_table --doc docs/endpoints.md`"


def test_records_are_ordered_by_round_with_their_variant(tmp_path):
    bundled = RT.round_records("smm_ps_mini", tmp_path)
    assert [label for label, _, _ in bundled] == ["bundled"]  # the bundled model's own check, from its report
    record = json.loads(json.dumps(bundled[0][2]))
    cmaes = record["by_budget"]["3000"]["optimizers"]["cmaes"]
    for name, gap in (("smm_ps_mini-r2-cv.json", 0.01), ("smm_ps_mini-r2.json", 0.03), ("smm_ps_mini-r10.json", 0.031),
                      ("smm_ps_mini_mf-r1.json", 0.5)):
        cmaes["gap_mean"] = gap
        (tmp_path / name).write_text(json.dumps(record))
    labels = [(label, n) for label, n, _ in RT.round_records("smm_ps_mini", tmp_path)]
    assert labels == [("bundled", 0), ("round 2", 2), ("round 2 (cv)", 2), ("round 10", 10)]  # not the _mf scenario's
    lines = RT.round_table("smm_ps_mini", tmp_path)
    row = next(line for line in lines if line.startswith("| 3,000 | cmaes |"))
    assert row.split(" | ")[3:] == ["+0.030", "+0.010", "+0.031 ✗ |"]  # ✗: above the goal (at most 0.03)
