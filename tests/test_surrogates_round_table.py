"""The round-by-round table of docs/endpoints.md comes from the check records, never by hand."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from smm_bench_surrogates import round_table as RT

REPO = Path(__file__).resolve().parents[1]


def test_the_docs_block_is_the_records_table():
    doc = (REPO / "docs" / "endpoints.md").read_text()
    block = doc[doc.index(RT.BEGIN) + len(RT.BEGIN):doc.index(RT.END)]
    assert block.strip() == RT.rounds_block().strip(), \
        "docs/endpoints.md's rounds block differs: run `python -m smm_bench_surrogates.round_table --doc docs/endpoints.md`"


def test_records_are_ordered_by_round_with_their_variant(tmp_path):
    bundled = RT.round_records("smm_ps_mini", tmp_path)
    assert [label for label, _, _ in bundled] == ["bundled"]  # no round recorded: the bundled model's own check
    record = json.loads(json.dumps(bundled[0][2]))
    shipped = record["model"]
    cmaes = record["by_budget"]["3000"]["optimizers"]["cmaes"]
    for name, gap in (("smm_ps_mini-r2-cv.json", 0.01), ("smm_ps_mini-r2.json", 0.03), ("smm_ps_mini-r10.json", 0.031),
                      ("smm_ps_mini_mf-r1.json", 0.5)):
        cmaes["gap_mean"], record["model"] = gap, f"{name:0<24}"
        (tmp_path / name).write_text(json.dumps(record))
    labels = [(label, n) for label, n, _ in RT.round_records("smm_ps_mini", tmp_path)]
    assert labels == [("bundled", 0), ("round 2", 2), ("round 2 (cv)", 2), ("round 10", 10)]  # not the _mf scenario's
    lines = RT.round_table("smm_ps_mini", tmp_path)
    row = next(line for line in lines if line.startswith("| 3,000 | cmaes |"))
    assert row.split(" | ")[2:] == [f"{bundled[0][2]['by_budget']['3000']['optimizers']['cmaes']['gap_mean']:+.3f} ✗",
                                    "+0.030", "+0.010", "+0.031 ✗ |"]  # ✗: above the goal (at most 0.03)
    gaps = [o["gap_mean"] for b in bundled[0][2]["by_budget"].values() for o in b["optimizers"].values()]
    cmaes0 = bundled[0][2]["by_budget"]["3000"]["optimizers"]["cmaes"]["gap_mean"]
    mean = next(line for line in lines if line.startswith(f"| mean gap over the {len(gaps)} cells every column ran |"))
    assert [c.strip() for c in mean.split("|")][4] == f"{(sum(gaps) - cmaes0 + 0.03) / len(gaps):+.3f}"  # round 2
    # a round whose model is the bundled one is labelled so, and the bundled column is not repeated
    (tmp_path / "smm_ps_mini-r2-cv.json").write_text(json.dumps({**record, "model": shipped}))
    labels = [label for label, _, _ in RT.round_records("smm_ps_mini", tmp_path)]
    assert labels == ["round 2", "round 2 (cv), bundled", "round 10"]


def test_the_mean_gaps_interval_resamples_each_cells_seeds():
    def cell(surrogate, true):
        return {"surrogate": surrogate, "true": true}

    flat = {"by_budget": {"300": {"optimizers": {"a": cell([0.5] * 5, [0.4] * 5), "b": cell([0.3] * 5, [0.3] * 5)}}}}
    draws = RT.cell_mean_draws(flat, [("300", "a"), ("300", "b")])
    assert np.allclose(draws, 0.05)  # no spread over seeds: no spread of the mean
    spread = {"by_budget": {"300": {"optimizers": {"a": cell([0.5, 0.6, 0.7, 0.4, 0.5], [0.4] * 5),
                                                   "b": cell([0.3] * 5, [0.3] * 5)}}}}
    draws = RT.cell_mean_draws(spread, [("300", "a"), ("300", "b")])
    lo, hi = np.quantile(draws, [0.05, 0.95])
    assert lo < 0.07 < hi and hi - lo < 0.1 and draws.min() >= 0.0 and draws.max() <= 0.15
    assert np.array_equal(draws, RT.cell_mean_draws(spread, [("300", "a"), ("300", "b")]))  # seeded
    text = RT._interval(draws - RT.cell_mean_draws(flat, [("300", "a"), ("300", "b")]), 0.02)
    assert text.startswith("+0.020 (") and text.endswith(")")
