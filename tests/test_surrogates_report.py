"""The validity report and the dataset card, end to end on small synthetic stores.

The synthetic evaluator stands in for merges (this tests the report's machinery, not merging);
the surrogate is a real LightGBM -> ONNX scenario trained on those stores.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from smm_bench_collection import plan
from smm_bench_collection.synthetic import SyntheticEvaluator
from smm_bench_surrogates import report as R
from smm_bench_surrogates.report_markdown import fmt
from smm_bench_surrogates.report_studies import reference_points, surrogate_run, true_runs
from smm_bench_surrogates.train import train_scenario

BUDGET = 24


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    mp = pytest.MonkeyPatch()
    mp.setitem(plan.PLAN, "ps", [("random", 0, 3 * BUDGET), *[(s, seed, BUDGET) for s in ("cmaes", "tpe")
                                                                   for seed in (0, 1)]])
    try:
        assert plan.run_plan("ps", root, family="synthetic", progress=False)
    finally:
        mp.undo()
    return root / "mini_ps"


class TrueFunction:
    """The synthetic evaluator behind the Benchmark interface the report's sampler loop uses."""

    objective_name = "acc"

    def __init__(self):
        self.ev = SyntheticEvaluator("ps")

    def evaluate(self, configs):
        return [{"acc": self.ev.evaluate(c).objective.accuracy} for c in configs]


def test_true_runs_are_in_the_order_the_sampler_asked(data):
    """Replaying the same sampler and seed on the true function gives the stored run exactly."""
    for sampler in ("cmaes", "tpe"):
        runs = true_runs(data, sampler, [0, 1, 2], BUDGET)
        assert sorted(runs) == [0, 1]  # seed 2 was never collected: left out, not invented
        for seed, values in runs.items():
            np.testing.assert_array_equal(values, surrogate_run(TrueFunction(), "ps", sampler, seed, BUDGET))
    random_runs = true_runs(data, "random", [0, 1, 2, 3], BUDGET)
    assert sorted(random_runs) == [0, 1, 2] and all(v.size == BUDGET for v in random_runs.values())


@pytest.mark.slow  # the whole report: training, optimiser runs, true evaluations
def test_report_writes_figures_tables_and_rankings(data, tmp_path):
    scenario = tmp_path / "smm_ps_test"
    train_scenario(data, "ps", scenario, n_trials=2, ensemble="refit")
    r = R.build_report(scenario, data, budget=BUDGET, seeds=[0, 1], figure2_budget=130, figure2_seeds=2,
                       random_only_trials=2, work_dir=tmp_path / "work", family="synthetic", min_run_rows=10,
                       endpoint_settings={"budgets": [40], "seeds": [20000, 20001], "fresh": 16,
                                          "checks": tmp_path / "checks", "work": tmp_path / "ework"})
    for f in ("REPORT.md", "report.json", "figure1.png", "figure2.png", "learning_curve.png", "tuning_front.png",
              "new_runs.png"):
        assert (scenario / f).stat().st_size > 0
    assert r["command"].endswith(f"--data {data} --fresh 16")  # the command redoes this report, check settings too
    f1 = r["figure1"]
    assert f1["true_runs"] == {"random": [0, 1], "cmaes": [0, 1], "tpe": [0, 1]}
    assert set(f1["complete_on_true"]) == {"random", "cmaes", "tpe"}
    assert set(f1["same_ranking_as_true"]) == {"surrogate", "surrogate_unseen_seeds", "random_only_surrogate"}
    assert f1["unseen_seeds"] == [1000, 1001] and set(f1["final_best"]["surrogate_unseen_seeds"]["tpe"]) == {"1000", "1001"}
    from smm_bench_plugin import load as load_scenario

    bench_ = load_scenario(scenario)  # the unseen-seed runs are the same sampler code with the other seed
    assert f1["final_best"]["surrogate_unseen_seeds"]["tpe"]["1001"] == pytest.approx(
        surrogate_run(bench_, "ps", "tpe", 1001, BUDGET).max(), abs=0)
    true_best = {s: max(v.max() for v in true_runs(data, s, [0, 1], BUDGET).values()) for s in ("cmaes", "tpe")}
    for s in ("cmaes", "tpe"):
        assert max(f1["final_best"]["true"][s].values()) == pytest.approx(true_best[s])
    assert set(r["figure2"]["optimizers"]) == {"sepcma", "de"}
    # Figure 2's bests evaluated for real: the surrogate's values are the runs' bests
    real = r["figure2"]["true_at_best"]
    assert set(real) == {"sepcma", "de"} and all(set(v) == {"0", "1"} for v in real.values())
    for name, per_seed in real.items():
        assert np.mean([p["surrogate_objective"] for p in per_seed.values()]) == pytest.approx(
            r["figure2"]["optimizers"][name]["best_objective_mean"])
        assert all(0 <= p["true_objective"] <= 1 for p in per_seed.values())
    md = (scenario / "REPORT.md").read_text()
    # the end-point check: every optimiser PS hosts, each run's best evaluated for real (synthetic family)
    e = r["endpoints"]
    assert e["optimizers"] == ["random", "cmaes", "sepcma", "tpe", "de"] and list(e["by_budget"]) == ["40"]
    assert e["true_evaluations"]["fresh_random"] == 16 and e["fresh_random"]["objective"]["r2"] is not None
    assert "## Where optimisers end: surrogate best against its true value" in md and "| 40 | sepcma |" in md
    assert f"consecutive blocks of {BUDGET} rows of the seed-0 random store" in md
    # Figure 1's TPE is the collection's independent one; "tpe" alone is compare's (the end-point table)
    assert "| tpe (independent) |" in md and "| tpe |" not in md.split("## Figure 1 analog")[1].split("\n## ")[0]
    assert "evaluated for real" in md and f"| sepcma | 1 | {real['sepcma']['1']['surrogate_objective']:.3f} |" in md
    assert "Table 1 analog" in md and "0.950 / 0.883" in md and "figure1.png" in md
    assert f"smm-bench train --data {data} --space ps --out {scenario} --trials 2 --seed 0 --ensemble refit --derived ps-mean-v1" in md
    assert "Exported: **refit**" in md and "## Accuracy against cost: which model ships" in md
    sel = r["quality"]["selection"]
    assert f"requested: refit, the rule was not applied; it would ship gsm8k_ja_mini: {sel['rule_would_ship']['gsm8k_ja_mini']}" in md
    for name, t in r["quality"]["targets"].items():  # every candidate in the table, the exported one starred
        for c in t["candidates"]:
            assert f"| {name} | {c['candidate']}{' (reference)' if c['reference'] else ''} | {fmt(c['cv_r2'])} | " in md
        assert t["candidate"] == f"trial {t['tuning']['trial']} refit"
    # the data sections read the model's own rows, selected by its provenance while the stores grow
    until = r["provenance"]["rows_until"]
    assert r["rows_until"] == until and r["data_check"]["same_rows"] is True and f"--until {until}" in md
    assert "read exactly the model's rows" in md
    assert "paired-bootstrap interval of its held-out R² minus the reference's" in md
    # learning curve: nested shares of the training split, the last one all of it, same held-out rows
    from smm_bench_surrogates.train import cv_ensemble, held_out_quality, learner_matrix, load_dataset, split

    lc = r["learning_curve"]
    n_train, n_test = (len(a) for a in split(lc["dataset_rows"], 0))
    assert lc["held_out_rows"] == n_test and set(lc["targets"]) == {"objective", "test"}
    rows = [p["rows"] for p in lc["targets"]["objective"]["points"]]
    assert rows == sorted(rows) and rows[-1] == n_train and len(rows) == len(lc["fractions"])
    ds = load_dataset(data, "ps")  # the full-size point is the CV ensemble on the whole training split
    tr, te = split(len(ds.X), 0)
    params = r["quality"]["targets"]["gsm8k_ja_mini"]["tuning"]["params"]
    assert lc["derived_features"] == "ps-mean-v1"  # PS's default set: the curve uses the scenario's features
    X = learner_matrix(ds, "ps-mean-v1")
    cvb, _, _ = cv_ensemble(X[tr], ds.y["objective_acc"][tr], params, ds.n_cat, 0)
    full = held_out_quality(np.array(cvb.predict(X[te])).mean(0).clip(0, 1), ds.y["objective_acc"][te])
    assert lc["targets"]["objective"]["points"][-1]["r2"] == pytest.approx(full["r2"], abs=1e-12)
    assert "## Learning curve: would more data help?" in md and f"| {rows[-1]:,} | " in md
    # leave one run out: each optimiser run held out whole, the same parameters trained on all other rows
    loro = r["leave_one_run_out"]
    assert set(loro["runs"]) == {"cmaes-s0", "cmaes-s1", "tpe-s0", "tpe-s1"} and not loro["skipped"]
    held = (ds.samplers == "tpe") & (ds.run_seeds == 1)
    assert loro["runs"]["tpe-s1"]["rows"] == held.sum() == BUDGET
    cvb, _, _ = cv_ensemble(X[~held], ds.y["objective_acc"][~held], params, ds.n_cat, 0)
    pred = np.array(cvb.predict(X[held])).mean(0).clip(0, 1)
    run = loro["runs"]["tpe-s1"]["targets"]["objective"]
    assert run["r2"] == pytest.approx(held_out_quality(pred, ds.y["objective_acc"][held])["r2"], abs=1e-12)
    best = int(np.argmax(ds.y["objective_acc"][held]))
    assert run["predicted_at_best"] == pytest.approx(pred[best], abs=1e-12)
    fewer = held | ((ds.samplers == "tpe") & (ds.run_seeds == 0))  # the other TPE run left out too
    cvb, _, _ = cv_ensemble(X[~fewer], ds.y["objective_acc"][~fewer], params, ds.n_cat, 0)
    pred = np.array(cvb.predict(X[held])).mean(0).clip(0, 1)
    assert run["one_run_fewer"]["dropped"] == "tpe-s0" and run["one_run_fewer"]["train_rows"] == (~fewer).sum()
    assert run["one_run_fewer"]["r2"] == pytest.approx(held_out_quality(pred, ds.y["objective_acc"][held])["r2"],
                                                       abs=1e-12)
    assert "one_run_fewer" not in loro["runs"]["tpe-s1"]["targets"]["test"]
    assert loro["runs"]["tpe-s0"]["targets"]["objective"]["one_run_fewer"]["dropped"] == "tpe-s1"
    assert "predictions" not in loro and "## New optimiser runs: leave one run out" in md
    assert f"| tpe-s1 | {BUDGET:,} ({len(ds.X) - BUDGET:,}) | {fmt(run['r2'])} (" in md
    assert f" | {fmt(run['one_run_fewer']['r2'])} / {fmt(run['one_run_fewer']['kendall_tau'])} (tpe-s0) |" in md
    from smm_bench_surrogates.train import leave_one_run_out

    short = leave_one_run_out(ds, "ps", {"objective": params}, ("cmaes",), derived="ps-mean-v1", min_rows=BUDGET + 1)
    assert short["runs"] == {} and short["skipped"] == {"cmaes-s0": BUDGET, "cmaes-s1": BUDGET}
    by_sampler = r["quality"]["targets"]["gsm8k_ja_mini"]["by_sampler"]
    assert set(by_sampler) == {"random", "cmaes", "tpe"}
    assert sum(g["n"] for g in by_sampler.values()) == r["quality"]["split"]["test"]
    assert "| sampler | held-out rows | gsm8k_ja_mini R² (ceiling) / tau | mgsm_ja_mini R² (ceiling) / tau |" in md
    t = r["quality"]["targets"]["gsm8k_ja_mini"]
    assert f"| gsm8k_ja_mini | objective | {fmt(t['r2'])} | {fmt(t['noise_ceiling_r2'])} | " \
           f"{fmt(t['kendall_tau'])} | {fmt(t['noise_ceiling_tau'])} |" in md and "Noise ceiling:" in md
    assert t["noise_ceiling_r2"] == t["ensembles"][t["ensemble"]]["noise_ceiling_r2"] is not None
    for name, g in by_sampler.items():
        assert f"| {name} | {g['n']} | " in md
        if g.get("r2") is not None:  # the group's own ceiling in brackets
            assert f"| {name} | {g['n']} | {fmt(g['r2'])} ({fmt(g['noise_ceiling_r2'])}) / " in md
    assert json.loads((scenario / "report.json").read_text())["budget"] == BUDGET
    from smm_bench_plugin.blas import blas_kernel  # the surrogate's CMA-ES curves depend on it
    assert r["blas"] == blas_kernel() and (r["blas"] is None or f"drew through numpy's BLAS {r['blas']}" in md)
    # tuning front: every target's recorded front, with exactly one kept trial, the one train exported
    assert "## Tuning: accuracy against size (Pareto front)" in md
    for name, t in r["quality"]["targets"].items():
        rows = [line for line in md.splitlines() if line.startswith(f"| {name} | ") and line.endswith("|")
                and line.count("|") == 8]
        assert len(rows) == len(t["tuning"]["pareto_front"])
        kept = [line for line in rows if line.endswith("| ★ |")]
        assert len(kept) == 1 and f"| {fmt(t['tuning']['cv_r2'])} |" in kept[0]
    # --render-only rewrites the same REPORT.md from report.json, recomputing nothing
    (scenario / "REPORT.md").unlink()
    (scenario / "tuning_front.png").unlink()
    assert R.main(["--scenario", str(scenario), "--render-only"]) == 0
    assert (scenario / "REPORT.md").read_text() == md and (scenario / "tuning_front.png").stat().st_size > 0
    with pytest.raises(SystemExit):  # a full report needs the data
        R.main(["--scenario", str(scenario)])
    # Figure 2 alone again: the same seeds give the same runs and the same real evaluations
    assert R.main(["--scenario", str(scenario), "--figure2-only", "--family", "synthetic"]) == 0
    again = json.loads((scenario / "report.json").read_text())
    assert again["figure2"]["true_at_best"] == real and again["figure1"] == json.loads(json.dumps(r["figure1"]))
    assert (scenario / "REPORT.md").read_text() == md
    # reference configurations: evaluated for real by the dataset's family, beside the surrogate
    points = r["reference_points"]["points"]
    assert list(points) == ["default configuration", "base model (all weights 0)", "Japanese expert (w0 = 1, w1 = 0)",
                            "math expert (w0 = 0, w1 = 1)"]
    from smm_bench_collection.mini.gates import corner
    from smm_bench_plugin import load

    bench = load(scenario)
    ev = SyntheticEvaluator("ps")
    assert points["Japanese expert (w0 = 1, w1 = 0)"]["true_objective"] == ev.evaluate(corner(0)).objective.accuracy
    assert points["base model (all weights 0)"]["surrogate_objective"] == bench.objective(corner(None))
    assert "## Reference configurations: true vs surrogate" in md
    # another family than the data's is refused by family id, and the report says so
    assert reference_points(bench, "ps", "mini-v1", "synthetic")["skipped"].startswith("the local 'synthetic'")


def test_dataset_card_counts_rows_against_the_plan(data, tmp_path, monkeypatch):
    from smm_bench_collection import card

    from smm_bench_collection import replay
    from smm_bench_collection.store import VERDICT_FILE
    from smm_bench_plugin.blas import blas_kernel, kernel_name

    monkeypatch.setitem(plan.PLAN, "ps", [("random", 0, 100), ("cmaes", 0, BUDGET), ("cmaes", 5, 10)])
    try:
        assert replay.main([str(data / "cmaes-s1"), "--save"]) == 0  # a saved provenance verdict, shown by the card
        (data / "tpe-s1" / VERDICT_FILE).write_text("{not json")  # an unreadable one is skipped, with a warning
        with pytest.warns(UserWarning, match="ignoring unreadable .*tpe-s1/REPLAY.json"):
            out = card.write_card(data.parent)
    finally:  # the fixture is shared
        for run in ("cmaes-s1", "tpe-s1"):
            (data / run / VERDICT_FILE).unlink(missing_ok=True)
    md = out.read_text()
    assert f"| random-s0 | {3 * BUDGET} / 100 |" in md and md.count(" | not checked |") == 4
    assert "| cmaes-s5 | 0 / 10 | — | — | — | — | — | — |" in md  # planned, not collected: shown as such
    kernel = kernel_name(blas_kernel()) or blas_kernel() or "an unidentified BLAS"
    assert [line for line in md.splitlines() if line.startswith("| cmaes-s1 | ")][0].endswith(f" | yes, on {kernel} |")
    check = {"sampler": "cmaes", "reproducible": False, "matched_rounds": 1, "stored_rounds": 63,
             "blas": "openblas 0.3.31 Haswell", "rows": 504}
    assert card.replay_cell(check, 1000) == "no: 1/63 rounds on Haswell (checked at 504 rows)"
    assert card.replay_cell({**check, "rows": 1000}, 1000) == "no: 1/63 rounds on Haswell"
    assert card.replay_cell({**check, "rows": 1000, "sampler": "tpe", "reproducible": True}, 1000) == "yes"
    assert card.replay_cell({**check, "blas": None, "reproducible": True}, 504) == "yes, on an unidentified BLAS"
    assert card.replay_cell({**check, "blas": "mkl 2024.1", "reproducible": True}, 504) == "yes, on mkl 2024.1"
    assert "Versions (every row): " in md and "pyarrow" in md
    assert (data.parent / "accuracy_histograms.png").stat().st_size > 0


def test_card_lists_every_version_the_rows_carry():
    """A dataset collected across a library upgrade says so, with row counts."""
    import json
    from collections import Counter

    from smm_bench_collection.card import versions_sentence

    old, new = json.dumps({"numpy": "2.4.6", "transformers": "5.23.0"}), json.dumps({"numpy": "2.4.6", "transformers": "5.24.0"})
    runs = {"a-s0": {"versions": Counter({old: 1000})}, "b-s0": {"versions": Counter({old: 5, new: 1200})}}
    assert versions_sentence(runs) == ("Versions (every row): numpy 2.4.6. Rows differ in: "
                                       "transformers 5.23.0 (1,005 rows) / 5.24.0 (1,200 rows).")
    kernel = json.dumps({"numpy": "2.4.6", "transformers": "5.24.0", "blas": "openblas 0.3.31 SkylakeX"})
    runs["b-s0"]["versions"][kernel] = 300  # an entry recorded only by the newer rows is not claimed for all
    assert versions_sentence(runs) == ("Versions (every row): numpy 2.4.6. Rows differ in: "
                                       "blas not recorded (2,205 rows) / openblas 0.3.31 SkylakeX (300 rows); "
                                       "transformers 5.23.0 (1,005 rows) / 5.24.0 (1,500 rows).")


@pytest.mark.slow
def test_dfs_report_uses_catcma_and_has_no_figure2(tmp_path):
    mp = pytest.MonkeyPatch()
    mp.setitem(plan.PLAN, "dfs", [("random", 0, 2 * BUDGET), ("catcma", 0, BUDGET), ("tpe", 0, BUDGET)])
    try:
        assert plan.run_plan("dfs", tmp_path / "data", family="synthetic", progress=False)
    finally:
        mp.undo()
    data = tmp_path / "data" / "mini_dfs"
    scenario = tmp_path / "smm_dfs_test"
    train_scenario(data, "dfs", scenario, n_trials=2)
    r = R.build_report(scenario, data, budget=BUDGET, seeds=[0], random_only_trials=2, work_dir=tmp_path / "w")
    assert r["figure1"]["true_runs"] == {"random": [0], "catcma": [0], "tpe": [0]}
    assert r["figure2"] is None and not (scenario / "figure2.png").exists()
    with pytest.raises(ValueError, match="has no Figure 2"):
        R.update_figure2(scenario, "synthetic")
    md = (scenario / "REPORT.md").read_text()
    assert "| catcma |" in md
    # DFS trains with derived features: the learning curve also shows the raw-feature model
    lc = r["learning_curve"]
    assert lc["derived_features"] == "dfs-path-v2" and set(lc["raw_features"]) == {"objective", "test"}
    assert [p["rows"] for p in lc["raw_features"]["objective"]["points"]] == \
           [p["rows"] for p in lc["targets"]["objective"]["points"]]
    assert "objective R² / tau, raw features" in md
    for role in ("objective", "test"):  # the same held-out rows: the same ceiling
        assert lc["raw_features"][role]["noise_ceiling_r2"] == lc["targets"][role]["noise_ceiling_r2"]

    from smm_bench_collection import card
    from smm_bench_collection.store import read_stores

    mp.setitem(plan.PLAN, "dfs", [("random", 0, 2 * BUDGET), ("catcma", 0, BUDGET), ("tpe", 0, BUDGET)])
    try:
        md = card.write_card(tmp_path / "data").read_text()
    finally:
        mp.undo()
    table = read_stores(data)
    inserted = sum(np.array(table.column(f"slot{i:02d}").to_pylist()) != "none" for i in range(32))
    rows = [line.split(" | ") for line in md.splitlines() if line.startswith("| ") and "–" in line.split(" | ")[0]]
    assert [r[0] for r in rows] == [f"| {lo}–{hi}" for lo, hi in card.PATH_BINS]
    assert sum(int(r[1].replace(",", "")) for r in rows) == table.num_rows == 4 * BUDGET
    for (lo, hi), r in zip(card.PATH_BINS, rows):
        assert int(r[1].replace(",", "")) == int(((inserted >= lo) & (inserted <= hi)).sum())
