"""The selection rule (accuracy first, cost second) and the end-point comparison of two candidates."""
import json

import numpy as np
import pytest

from smm_bench_surrogates.select import (Candidate, choose, compare_endpoints, render_endpoint_comparison, score,
                                        truncate, truncations)
from smm_bench_surrogates.train import _lgb_params, cv_ensemble, refit_ensemble


@pytest.fixture(scope="module")
def problem():
    """A smooth response: a big CV ensemble, its refit, a cheap but good model and a cheap poor one."""
    rng = np.random.default_rng(0)
    X = rng.random((1600, 4))
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.05 * rng.standard_normal(1600)
    train, test = np.arange(1200), np.arange(1200, 1600)
    big, cv_r2, _ = cv_ensemble(X[train], y[train], _lgb_params({"num_leaves": 15, "learning_rate": 0.05}, 0, 0), 0, 0)
    small, small_r2, _ = cv_ensemble(X[train], y[train], _lgb_params({"num_leaves": 7, "learning_rate": 0.3}, 0, 0),
                                     0, 0)
    poor, poor_r2, _ = cv_ensemble(X[train], y[train], _lgb_params({"num_leaves": 2, "learning_rate": 0.3}, 0, 0),
                                   0, 0, num_boost_round=3)
    refit = refit_ensemble(X[train], y[train], _lgb_params({"num_leaves": 15, "learning_rate": 0.05}, 0, 0), 0,
                           int(big.best_iteration))
    candidates = [Candidate(1, "cv", big, cv_r2, reference=True), Candidate(1, "refit", refit, cv_r2),
                  Candidate(2, "cv", small, small_r2), Candidate(3, "cv", poor, poor_r2)]
    return candidates, X[test], y[test]


def test_a_cheaper_model_ships_only_when_its_interval_clears_the_tolerance(problem):
    candidates, X, y = problem
    records = score(candidates, X, y, -np.inf, np.inf, tolerance=0.02)
    by = {r["candidate"]: r for r in records}
    assert by["trial 1 cv"]["as_accurate"] and by["trial 1 cv"]["r2_minus_reference"]["ci90"] == [0.0, 0.0]
    poor = by["trial 3 cv"]
    assert poor["r2"] < by["trial 1 cv"]["r2"] - 0.1 and not poor["as_accurate"]  # far worse: never as accurate
    for r in records:  # the verdict is the interval's lower end against -tolerance, nothing else
        lo = r["r2_minus_reference"]["ci90"][0]
        assert r["as_accurate"] == (r["reference"] or lo >= -0.02)
    assert by["trial 1 refit"]["trees"] * 5 == by["trial 1 cv"]["trees"]
    chosen = choose(records)
    cheaper_ok = [r for r in records if r["as_accurate"] and r["node_visits"] < by["trial 1 cv"]["node_visits"]]
    assert cheaper_ok, "the refit or the small ensemble should be as accurate within 0.02 on this smooth problem"
    assert chosen["node_visits"] == min(r["node_visits"] for r in cheaper_ok) and not chosen["reference"]
    # no tolerance at all: only a candidate that is not worse on any resample could pass; the reference stays
    strict = score(candidates, X, y, -np.inf, np.inf, tolerance=0.0)
    assert choose(strict)["candidate"] in {r["candidate"] for r in strict if r["r2_minus_reference"]["ci90"][0] >= 0}
    json.dumps(records, allow_nan=False)  # goes into meta.json as it is


def test_a_cut_mean_is_each_folds_first_rounds_and_only_five_fold_means_ship_under_auto_cv(problem):
    candidates, X, y = problem
    big = candidates[0]
    full = int(big.model.best_iteration)
    cuts = truncations(big)
    assert [c.model.best_iteration for c in cuts] == sorted({max(1, round(full * f)) for f in (1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8)}, reverse=True)
    for c in cuts:  # the same trees as predicting the whole folds with num_iteration=k, bit for bit
        k = int(c.model.best_iteration)
        assert c.name == f"trial 1 cv@{k}" and c.truncated and not c.reference
        want = np.mean([b.predict(X, num_iteration=k) for b in big.model.boosters], axis=0)
        assert np.array_equal(np.mean(c.model.predict(X), axis=0), want)
    records = score([*candidates, *cuts], X, y, -np.inf, np.inf, tolerance=0.02)
    assert choose(records, five_fold_only=True)["ensemble"] == "cv"
    five = [r for r in records if r["as_accurate"] and r["ensemble"] == "cv"]
    assert choose(records, five_fold_only=True)["node_visits"] == min(r["node_visits"] for r in five)
    with pytest.raises(ValueError, match="rounds must be from 1 to"):
        truncate(big.model, full + 1)


def test_a_report_shows_the_recorded_checks_of_cheaper_objectives(tmp_path):
    """`<scenario>-cost-*.json` records are compared with the scenario's own check, and the report's
    table says which keep the end-point quality, escaping the pipes of its reasons."""
    from smm_bench_surrogates.report_markdown import _cheaper_objective_lines
    from smm_bench_surrogates.select import cheaper_objective_checks

    true = {"cmaes": [0.60, 0.62, 0.61, 0.63, 0.60], "random": [0.40, 0.42, 0.41, 0.40, 0.43]}
    ref = _record({"cmaes": [0.010, -0.010, 0.020, 0.000, 0.010], "random": [0.01, 0.00, 0.02, 0.01, 0.00]}, true, "s")
    worse = _record({"cmaes": [0.080, 0.090, 0.070, 0.085, 0.095], "random": [0.01, 0.00, 0.02, 0.01, 0.00]}, true, "s")
    same = _record({"cmaes": [0.015, -0.005, 0.010, 0.005, 0.010], "random": [0.00, 0.01, 0.01, 0.02, 0.01]}, true, "s")
    for name, rec, visits in (("s-cost-cut", worse, 40.0), ("s-cost-small", same, 60.0), ("s-r1", worse, 1.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps({**rec, "held_out": {"candidate": name, "node_visits": visits}}))
    checks = cheaper_objective_checks("s", ref, rounds_dir=tmp_path)
    assert [c["record"] for c in checks] == ["s-cost-cut.json", "s-cost-small.json"]  # rounds are not cost checks
    assert [c["candidate_keeps_endpoint_quality"] for c in checks] == [False, True]
    assert cheaper_objective_checks("s", None, rounds_dir=tmp_path) == []  # no check of its own: nothing to compare
    quality = {"targets": {"acc": {"role": "objective", "candidate": "trial 1 cv",
                                   "candidates": [{"candidate": "trial 1 cv", "node_visits": 100.0}]}}}
    table = [line for line in _cheaper_objective_lines(checks, quality) if line.startswith("| ")]
    assert len(table) == 4 and table[1].startswith("| trial 1 cv (ships) | 100 |")
    assert table[2].startswith("| s-cost-cut (`s-cost-cut.json`) | 40 |") and "no: " in table[2]
    assert "mean \\|gap\\| larger" in table[2] and table[2].count(" | ") == 6  # the reasons' pipes escaped
    assert table[3].endswith("| yes |")


def test_choose_breaks_ties_by_leaves_then_accuracy():
    def rec(name, visits, leaves, r2, ok=True):
        return {"candidate": name, "node_visits": visits, "leaves": leaves, "r2": r2, "as_accurate": ok,
                "reference": name == "ref"}

    records = [rec("ref", 100, 50, 0.9), rec("a", 20, 40, 0.88), rec("b", 20, 30, 0.87), rec("c", 10, 10, 0.5, False)]
    assert choose(records)["candidate"] == "b"
    records[2]["leaves"] = 40
    assert choose(records)["candidate"] == "a"
    assert choose([rec("ref", 100, 50, None)])["candidate"] == "ref"  # undefined R² (constant rows): the reference


def _record(gaps: dict[str, list[float]], true: dict[str, list[float]], name: str):
    """An end-point record as the check writes it (endpoints.summarise on units and true values)."""
    from smm_bench_surrogates.endpoints import summarise

    units, truths = [], []
    for opt, g in gaps.items():
        for seed, (gap, t) in enumerate(zip(g, true[opt])):
            units.append({"budget": 300, "optimizer": opt, "seed": seed, "surrogate_objective": t + gap,
                          "surrogate_test": None})
            truths.append({"objective_acc": t, "test_acc": t})
    return {"scenario": name, "model": name, "by_budget": summarise(units, truths)}


def test_compare_endpoints_keeps_a_candidate_whose_gaps_are_not_resolvably_larger(tmp_path):
    true = {"cmaes": [0.60, 0.62, 0.61, 0.63, 0.60], "random": [0.40, 0.42, 0.41, 0.40, 0.43]}
    ref = _record({"cmaes": [0.010, -0.010, 0.020, 0.000, 0.010], "random": [0.01, 0.00, 0.02, 0.01, 0.00]}, true, "ref")
    same = _record({"cmaes": [0.015, -0.005, 0.010, 0.005, 0.010], "random": [0.00, 0.01, 0.01, 0.02, 0.01]}, true,
                   "cheap")
    worse = _record({"cmaes": [0.080, 0.090, 0.070, 0.085, 0.095], "random": [0.01, 0.00, 0.02, 0.01, 0.00]}, true,
                    "cheaper")
    kept = compare_endpoints(ref, same)
    assert kept["candidate_keeps_endpoint_quality"] and not kept["problems"]
    lost = compare_endpoints(ref, worse)
    assert not lost["candidate_keeps_endpoint_quality"]
    assert any("cmaes" in p and "larger" in p for p in lost["problems"])
    assert any("misses an end-point goal" in p for p in lost["problems"])  # 0.084 > the 0.03 goal, the reference met it
    row = next(r for r in lost["rows"] if r["optimizer"] == "cmaes")
    assert row["abs_gap_difference"] == pytest.approx(0.084 - 0.01) and row["abs_gap_interval"][0] > 0
    assert "ship the reference" in render_endpoint_comparison(lost) and "ship it" in render_endpoint_comparison(kept)
    assert compare_endpoints(ref, ref)["runs"] == {"runs": 10, "other_surrogate_best": {}}  # same record: same paths
    assert lost["runs"]["other_surrogate_best"] == {"cmaes@300": [0, 1, 2, 3, 4]}  # random's values are ref's
    assert "differs between the two records: 5 of 10 (cmaes@300 seeds 0, 1, 2, 3, 4)" in render_endpoint_comparison(lost)
    summary = lost["summary"]  # over the compared cells: the candidate's cmaes gap 0.084, random's 0.008 each
    assert summary["candidate"]["cells"] == 2 and summary["candidate"]["mean_gap"] == pytest.approx((0.084 + 0.008) / 2)
    assert summary["reference"]["mean_gap"] == pytest.approx((0.006 + 0.008) / 2)
    assert (summary["reference"]["cells_over_goal"], summary["candidate"]["cells_over_goal"]) == (None, None)  # no goals
    assert "mean gap +0.007 / +0.046" in render_endpoint_comparison(lost)
    # from scenario folders: report.json's key 'endpoints', as the end-point check writes it
    for folder, rec in (("a", ref), ("b", same)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.json").write_text(json.dumps({"endpoints": rec}))
    assert compare_endpoints(tmp_path / "a", tmp_path / "b")["candidate_keeps_endpoint_quality"]
    (tmp_path / "c").mkdir()
    with pytest.raises(FileNotFoundError, match="--endpoints-only"):
        compare_endpoints(tmp_path / "a", tmp_path / "c")
    (tmp_path / "c" / "report.json").write_text(json.dumps({"endpoints": {"skipped": "other family"}}))
    with pytest.raises(ValueError, match="skipped: other family"):
        compare_endpoints(tmp_path / "a", tmp_path / "c")
