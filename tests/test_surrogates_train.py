"""Surrogate training end to end on a small real store (synthetic evaluator: tests the pipeline, not merging)."""
import json
from pathlib import Path

import numpy as np
import pytest

from smm_bench_collection.collect import collect, family_factory
from smm_bench_plugin import load
from smm_bench_plugin.cli import main as cli_main
from smm_bench_surrogates.train import load_dataset, split


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    collect("dfs", family_factory("dfs", "synthetic"), "random", 240, out, seed=0, progress=False)
    return out


def test_split_is_nine_to_one_and_fixed_by_seed():
    a, b = split(1000, 3)
    assert a.size == 900 and b.size == 100 and not set(a) & set(b)
    assert np.array_equal(split(1000, 3)[1], b) and not np.array_equal(split(1000, 4)[1], b)


def test_dataset_uses_the_runtime_learner_layout(store):
    data = load_dataset(store, "dfs")
    assert data.n_cat == 32 and data.X.shape == (240, 95)
    assert set(np.unique(data.X[:, :32])) <= {0.0, 1.0, 2.0}
    assert data.X[:, 32:].min() >= 0.4 and data.X[:, 32:].max() <= 1.5
    with pytest.raises(ValueError, match="not 'ps'"):
        load_dataset(store, "ps")


def test_train_command_writes_a_loadable_scenario_with_a_quality_report(store, tmp_path):
    out = tmp_path / "smm_dfs_test"
    assert cli_main(["train", "--data", str(store), "--space", "dfs", "--out", str(out), "--trials", "2"]) == 0
    bench = load(str(out))
    assert [t.role for t in bench.targets] == ["objective", "test", "cost"]
    assert [t.direction for t in bench.targets] == ["maximize", "maximize", "minimize"]
    assert bench.targets[0].description == "accuracy on the objective set"
    q = bench.meta["quality"]["targets"]
    assert q["gsm8k_ja_mini"]["n"] == 24 and -1 <= q["gsm8k_ja_mini"]["kendall_tau"] <= 1
    assert q["gsm8k_ja_mini"]["tuning"]["pareto_front"]
    assert q["gsm8k_ja_mini"]["by_sampler"]["random"]["n"] == 24  # the store is one random run
    assert q["gsm8k_ja_mini"]["noise_ceiling_r2"] <= 1 and "noise_ceiling_r2" not in q["eval_seconds"]
    cfg = dict(bench.configspace.sample_configuration())
    y = bench.evaluate(cfg)[0]
    assert 0 <= y["gsm8k_ja_mini"] <= 1 and y["eval_seconds"] >= 0
    assert bench.meta["provenance"]["rows"] == 240 and bench.meta["provenance"]["family_id"] == "synthetic-v1"
    assert bench.meta["provenance"]["rows_sha256"] == load_dataset(store, "dfs").rows_sha256
    assert load_dataset(store, "dfs", until=bench.meta["provenance"]["rows_until"]).rows_sha256 == \
        bench.meta["provenance"]["rows_sha256"]
    # DFS trains with its derived path features by default; the graph computes them from the raw inputs
    assert bench.meta["provenance"]["derived_features"]["set"] == "dfs-path-v2"
    assert bench.meta["quality"]["export_max_abs_error"] <= 1e-12
    # the integrity record is written by the exporter: a retrained scenario needs no upgrade step
    from smm_bench_plugin.upgrade import upgrade_scenario

    assert bench.meta["format_version"] == 2 and upgrade_scenario(out).rows_checked == 0


def test_derived_none_is_the_papers_raw_feature_model(store, tmp_path):
    from smm_bench_plugin.derived_features import feature_names

    raw, derived = tmp_path / "raw", tmp_path / "derived"
    assert cli_main(["train", "--data", str(store), "--space", "dfs", "--out", str(raw), "--trials", "1",
                     "--derived", "none"]) == 0
    assert cli_main(["train", "--data", str(store), "--space", "dfs", "--out", str(derived), "--trials", "1"]) == 0
    assert "derived_features" not in load(str(raw)).meta["provenance"]
    cfg = [dict(c) for c in load(str(raw)).configspace.sample_configuration(50)]
    a, b = load(str(raw)).evaluate(cfg), load(str(derived)).evaluate(cfg)
    assert a != b  # different models, both valid
    import onnx

    def feature_inputs(folder):  # the tensors concatenated into the tree ensemble's input
        return [n for n in onnx.load(str(folder / "model.onnx")).graph.node if n.name == "features"][0].input

    assert feature_inputs(raw) == ["cat_codes", "cont_clipped"]
    assert feature_inputs(derived) == ["cat_codes", "cont_clipped", "derived_features"]
    assert load(str(derived)).meta["provenance"]["derived_features"]["names"] == feature_names("dfs-path-v2")


def test_quality_by_sampler_scores_each_group_on_its_own():
    from smm_bench_surrogates.train import MIN_GROUP_ROWS, quality_by_sampler

    rng = np.random.default_rng(0)
    big = MIN_GROUP_ROWS + 10
    y = np.concatenate([rng.random(big), np.zeros(MIN_GROUP_ROWS), rng.random(MIN_GROUP_ROWS - 1)])
    samplers = np.array(["cmaes"] * big + ["random"] * MIN_GROUP_ROWS + ["tpe"] * (MIN_GROUP_ROWS - 1))
    pred = y.copy()
    pred[:big] = 2 * y[:big] + 1  # same order, wrong scale: tau 1, R² far below 1
    items = np.full(y.size, 256.0)
    q = quality_by_sampler(pred, y, samplers, items)
    assert q["cmaes"]["n"] == big and q["cmaes"]["kendall_tau"] == pytest.approx(1.0) and q["cmaes"]["r2"] < 0
    assert 0 < q["cmaes"]["noise_ceiling_r2"] < 1
    # all tied at 0: undefined, so null rather than NaN
    assert q["random"] == {"r2": None, "kendall_tau": None, "n": MIN_GROUP_ROWS, "noise_ceiling_r2": None,
                           "noise_ceiling_tau": None}
    assert q["tpe"] == {"n": MIN_GROUP_ROWS - 1}  # too few rows to score
    json.dumps(q, allow_nan=False)
    assert "noise_ceiling_r2" not in quality_by_sampler(pred, y, samplers)["cmaes"]  # not an accuracy: no ceiling


def test_noise_ceiling_is_the_r2_of_the_true_accuracy_function():
    """Simulated benchmark: true accuracies p, observed = mean of n Bernoulli(p) answers."""
    from smm_bench_surrogates.train import held_out_quality, noise_ceiling_r2

    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.8, 50_000)
    n = np.full(p.size, 8.0)
    y = rng.binomial(8, p) / 8
    perfect = held_out_quality(p, y, n)  # the best any surrogate can do
    assert perfect["noise_ceiling_r2"] == noise_ceiling_r2(y, n)
    assert abs(perfect["r2"] - perfect["noise_ceiling_r2"]) < 0.01  # unbiased (y(1-y)/n would be ~0.06 high)
    assert 0.49 < perfect["noise_ceiling_r2"] < 0.55
    assert noise_ceiling_r2(p, np.full(p.size, 1e9)) > 0.999  # no item noise: ceiling 1
    assert noise_ceiling_r2(y, np.ones(p.size)) is None  # one item: the noise cannot be estimated
    assert noise_ceiling_r2(np.full(10, 0.5), np.full(10, 8.0)) is None  # no spread: undefined


@pytest.mark.parametrize("a,b,n_items,close", [(1.0, 1.0, 128, True), (2.0, 2.0, 256, True), (5.0, 1.0, 128, True),
                                                (0.5, 3.0, 32, False), (0.2, 5.0, 128, False)])
def test_noise_ceiling_tau_is_an_optimistic_estimate_of_the_true_functions_tau(a, b, n_items, close):
    """Simulated benchmarks: with spread accuracies and the mini family's item counts the estimate
    from the observed accuracies alone is within 0.01 of the tau a perfect surrogate gets; when
    most accuracies sit near 0 (like uniform random merges) it errs high, never low."""
    from smm_bench_surrogates.train import held_out_quality, noise_ceiling_tau

    rng = np.random.default_rng(1)
    p = rng.beta(a, b, 3000)
    n = np.full(p.size, float(n_items))
    y = rng.binomial(n_items, p) / n_items
    perfect = held_out_quality(p, y, n)
    estimate = perfect["noise_ceiling_tau"]
    assert estimate == noise_ceiling_tau(y, n)  # seeded: the same value twice
    assert estimate >= perfect["kendall_tau"] - 0.002, perfect
    assert (estimate - perfect["kendall_tau"] < 0.01) == close, perfect
    assert noise_ceiling_tau(y, np.ones(p.size)) is None  # no R² ceiling, no tau ceiling


def test_a_folder_of_run_stores_reads_as_one_dataset_without_duplicates(tmp_path):
    from smm_bench_collection.store import read_stores

    factory = family_factory("ps", "synthetic")
    collect("ps", factory, "random", 40, tmp_path / "random-s0", seed=0, progress=False)
    collect("ps", factory, "random", 40, tmp_path / "copy-of-random", seed=0, progress=False)  # same configs
    collect("ps", factory, "cmaes", 32, tmp_path / "cmaes-s0", seed=0, progress=False)
    table = read_stores(tmp_path)
    assert table.num_rows == 72 and len(set(table.column("config_id").to_pylist())) == 72
    assert sorted(set(table.column("sampler").to_pylist())) == ["cmaes", "random"]
    with pytest.raises(FileNotFoundError, match="no collection store"):
        read_stores(tmp_path / "cmaes-s0" / "shards")


def test_until_selects_the_rows_a_model_was_trained_on_while_the_store_grows(tmp_path):
    """A model's provenance (rows_until, rows_sha256) selects its rows again after more were collected."""
    from smm_bench_collection.store import parse_until

    factory = family_factory("ps", "synthetic")
    collect("ps", factory, "random", 40, tmp_path / "random-s0", seed=0, progress=False)
    first = load_dataset(tmp_path, "ps")
    collect("ps", factory, "random", 72, tmp_path / "random-s0", seed=0, progress=False)  # the store grows
    assert len(load_dataset(tmp_path, "ps").X) == 72
    again = load_dataset(tmp_path, "ps", until=first.rows_until)
    assert len(again.X) == 40 and again.rows_sha256 == first.rows_sha256 and np.array_equal(again.X, first.X)
    assert load_dataset(tmp_path, "ps").rows_sha256 != first.rows_sha256
    with pytest.raises(ValueError, match="no rows evaluated until 2000"):
        load_dataset(tmp_path, "ps", until="2000-01-01T00:00:00")
    with pytest.raises(ValueError, match="--until must be an ISO date-time"):
        parse_until("yesterday")


def test_plan_runners_share_the_runs(tmp_path, monkeypatch):
    """Two runners over one plan: the store lock makes them take different runs; the union is the plan."""
    import threading

    from smm_bench_collection import plan

    monkeypatch.setitem(plan.PLAN, "ps", [("random", 0, 30), ("cmaes", 0, 32), ("random", 0, 60), ("tpe", 0, 16)])
    results = []
    workers = [threading.Thread(target=lambda: results.append(
        plan.run_plan("ps", tmp_path, family="synthetic", progress=False, poll_seconds=0.2))) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == [True, True]
    from smm_bench_collection.store import read_stores

    samplers = read_stores(tmp_path / "mini_ps").column("sampler").to_pylist()
    assert {s: samplers.count(s) for s in set(samplers)} == {"random": 60, "cmaes": 32, "tpe": 16}


def test_a_runner_over_two_spaces_moves_on_instead_of_waiting(tmp_path, monkeypatch, capsys):
    """``--space dfs,ps``: with the last DFS run taken by another runner (its lock held), the
    runner collects PS instead of polling; it exits 3 because DFS was left unfinished, and the
    same command finishes DFS once the lock is free."""
    from smm_bench_collection import plan
    from smm_bench_collection import store as S

    monkeypatch.setitem(plan.PLAN, "dfs", [("random", 0, 10), ("random", 1, 10)])
    monkeypatch.setitem(plan.PLAN, "ps", [("random", 0, 12)])
    args = ["--space", "dfs,ps", "--family", "synthetic", "--data", str(tmp_path), "--no-progress"]
    with S.ResultStore(tmp_path / "mini_dfs" / "random-s1", "dfs", "synthetic-v1"):  # another runner writes it
        assert plan.main(args) == 3
    assert "dfs: the remaining runs are being written by other runners; moving on" in capsys.readouterr().out
    rows = {space: {run.name: S.read_dataset(run).num_rows for run in (tmp_path / f"mini_{space}").iterdir()}
            for space in ("dfs", "ps")}
    assert rows == {"dfs": {"random-s0": 10, "random-s1": 0}, "ps": {"random-s0": 12}}
    assert plan.main(args) == 0
    assert S.read_dataset(tmp_path / "mini_dfs" / "random-s1").num_rows == 10
    with pytest.raises(SystemExit):
        plan.main(["--space", "dfs,dfs", "--seal"])
    assert "each once" in capsys.readouterr().err


def test_ensemble_size_counts_trees_leaves_and_node_visits():
    """Stumps visit one node per tree; 4-leaf trees grown leaf-wise visit between 2 and 3."""
    from smm_bench_surrogates.train import _lgb_params, cv_ensemble

    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.01 * rng.standard_normal(300)
    _, _, stumps = cv_ensemble(X, y, _lgb_params({"num_leaves": 2, "min_data_in_leaf": 5}, 0, 0), 0, 0,
                               num_boost_round=10)
    assert stumps["trees"] == 50 and stumps["leaves"] == 100 and stumps["node_visits"] == 50
    _, _, four = cv_ensemble(X, y, _lgb_params({"num_leaves": 4, "min_data_in_leaf": 5}, 0, 0), 0, 0,
                             num_boost_round=10)
    assert four["trees"] == 50 and four["leaves"] == 200
    assert 2 * 50 <= four["node_visits"] <= 3 * 50


def test_refit_ensemble_exports_one_model_per_target_and_scores_both(store, tmp_path):
    """--ensemble refit: one model per target (a fifth of the CV mean's trees), exported with the
    same parity bar, and the report holds the held-out scores of BOTH ensembles."""
    out = tmp_path / "smm_dfs_refit"
    assert cli_main(["train", "--data", str(store), "--space", "dfs", "--out", str(out), "--trials", "2",
                     "--ensemble", "refit"]) == 0
    bench = load(str(out))
    prov, q = bench.meta["provenance"], bench.meta["quality"]
    assert prov["ensemble"] == "refit" and "refitted" in prov["procedure"]
    assert all(t["folds"] == 1 for t in prov["targets"].values())
    assert q["export_max_abs_error"] <= 1e-12
    for name, t in q["targets"].items():
        assert t["ensemble"] == "refit" and set(t["ensembles"]) == {"cv", "refit"}
        cv, refit = t["ensembles"]["cv"], t["ensembles"]["refit"]
        assert refit["trees"] * 5 == cv["trees"], name
        assert t["r2"] == refit["r2"] and t["r2"] != cv["r2"], name
    y = bench.evaluate(dict(bench.configspace.get_default_configuration()))[0]
    assert 0 <= y["gsm8k_ja_mini"] <= 1


def test_paired_r2_difference_measures_the_splits_luck():
    from smm_bench_surrogates.train import paired_r2_difference

    rng = np.random.default_rng(0)
    y = rng.random(300)
    good, bad = y + 0.05 * rng.standard_normal(300), y + 0.3 * rng.standard_normal(300)
    same = paired_r2_difference(good, good, y)
    assert same["point"] == 0.0 and same["ci90"] == [0.0, 0.0]
    d = paired_r2_difference(good, bad, y, seed=1)
    r2 = lambda p: 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()  # noqa: E731
    assert d["point"] == pytest.approx(r2(good) - r2(bad))
    assert 0 < d["ci90"][0] < d["point"] < d["ci90"][1]
    assert d == paired_r2_difference(good, bad, y, seed=1)  # seeded
    twin = y + 0.05 * rng.standard_normal(300)  # as good as ``good``: the interval straddles 0
    tie = paired_r2_difference(twin, good, y)
    assert tie["ci90"][0] < 0 < tie["ci90"][1] and tie["ci90"][1] - tie["ci90"][0] < d["ci90"][1] - d["ci90"][0]
    assert paired_r2_difference(good, bad, np.full(300, 0.5))["point"] is None  # R² undefined


def test_auto_ensemble_exports_what_the_rule_chose(store, tmp_path):
    """--ensemble auto: per target the cheapest candidate as accurate as the tuned cv ships; every
    candidate's interval and verdict are on record, and the exported model is the chosen one."""
    from smm_bench_surrogates.train import R2_TOLERANCE, train_scenario

    q = train_scenario(store, "dfs", tmp_path / "auto", n_trials=3, reference_out=tmp_path / "ref")  # auto: default
    sel = q["selection"]
    assert sel["requested"] == "auto" and sel["tolerance"] == R2_TOLERANCE and sel["interval"] == 0.9
    bench = load(str(tmp_path / "auto"))
    for name, t in q["targets"].items():
        records = t["candidates"]
        (ref,) = [r for r in records if r["reference"]]
        assert ref["candidate"] == f"trial {t['tuning']['trial']} cv" and ref["r2_minus_reference"]["point"] == 0.0
        assert {r["candidate"] for r in records} >= {f"trial {t['tuning']['trial']} {k}" for k in ("cv", "refit")}
        tol = R2_TOLERANCE[t["role"]]
        for r in records:
            d = r["r2_minus_reference"]
            assert r["as_accurate"] == (r["reference"] or (d["ci90"] is not None and d["ci90"][0] >= -tol)), r
        chosen = min((r for r in records if r["as_accurate"]), key=lambda r: (r["node_visits"], r["leaves"], -r["r2"]))
        assert t["candidate"] == chosen["candidate"] == sel["chosen"][name]
        assert t["r2"] == chosen["r2"] and (t["trial"], t["ensemble"]) == (chosen["trial"], chosen["ensemble"])
        folds = bench.meta["provenance"]["targets"][name]
        assert folds["folds"] * folds["trees_per_fold"][0] == chosen["trees"]  # the exported model is the chosen one
    kinds = {t["ensemble"] for t in q["targets"].values()}
    assert bench.meta["provenance"]["ensemble"] == (kinds.pop() if len(kinds) == 1 else "per target")
    assert bench.meta["provenance"]["ensemble_requested"] == "auto"
    # the reference (every target's tuned cv) is written when the rule chose otherwise, and its own
    # record rebuilds it: its train command asks for cv, not for the rule
    from smm_bench_surrogates.training_record import train_command

    assert (tmp_path / "ref").exists() == any(t["ensemble"] != "cv" for t in q["targets"].values())
    if (tmp_path / "ref").exists():
        ref_meta = load(str(tmp_path / "ref")).meta
        assert ref_meta["provenance"]["ensemble"] == "cv" and ref_meta["provenance"]["ensemble_requested"] == "cv"
        assert "--ensemble cv" in train_command("ref", "dfs", ref_meta)
    from smm_bench_surrogates.summary import selection_line

    line = selection_line(bench.meta["quality"])  # the key figure of docs/scenarios.md, from meta.json
    assert line.startswith("- Ships the cheapest model as accurate as the tuned 5-fold CV mean")
    assert all(f"{n} {t['candidate']} (" in line for n, t in q["targets"].items() if t["role"] != "cost")
    # the docs/scenarios.md table row is printed from this meta.json, never typed
    from smm_bench_surrogates.summary import summary_row

    row = summary_row(bench.meta)
    obj = next(t for t in q["targets"].values() if t["role"] == "objective")
    assert row.startswith("| `auto` | 240 rows (random 240) | ") and "`dfs-path-v2`" in row
    assert f"{obj['r2']:.3f} ({obj['noise_ceiling_r2']:.3f}) / {obj['kendall_tau']:.3f} (" in row
    assert f"| {bench.meta['provenance']['ensemble']}, " in row and row.endswith("| — |")  # no report yet: no new-run column
    runs = {"catcma-s0": {"targets": {"objective": {"r2": 0.2, "kendall_tau": 0.5, "top_decile_true": 0.6,
                                                    "top_decile_predicted": 0.3}}},
            "tpe-s0": {"targets": {"objective": {"r2": 0.4, "kendall_tau": 0.7, "top_decile_true": 0.4,
                                                 "top_decile_predicted": 0.3}}}}
    row = summary_row(bench.meta, {"leave_one_run_out": {"runs": runs}})
    assert row.endswith("| 0.300 / 0.600; 0.500, 0.300 (mean of 2 runs) |")


def test_summary_prints_the_bundled_scenarios_table(capsys):
    from smm_bench_surrogates.summary import README_BEGIN, README_END, main

    assert main([]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("| scenario | trained on |")
    assert lines[2].startswith("| `smm_ps_mini` |") and lines[3].startswith("| `smm_dfs_mini` |")
    assert all(line.count("|") == 8 for line in lines[:4]) and lines[4] == ""
    assert "`smm_ps_mini` (" in out and "- Figure 1 (final best of 1,000 evaluations" in out
    # the end-point check sits beside the held-out figures, with each gap from the report's record
    from smm_bench_plugin import load

    report = json.loads((load("smm_ps_mini").path / "report.json").read_text())
    cmaes = report["endpoints"]["by_budget"]["3000"]["optimizers"]["cmaes"]["gap_mean"]
    assert "budget 3,000: random " in out and f"cmaes {cmaes:+.3f}" in out and "- End points (each run's best" in out
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scenarios.md").read_text()
    block = doc[doc.index(README_BEGIN) + len(README_BEGIN):doc.index(README_END)]
    assert block.strip() == out.strip(), \
        "docs/scenarios.md's bundled-scenarios block differs: run `python -m smm_bench_surrogates.summary --doc docs/scenarios.md`"


def test_summary_rewrites_only_its_block(tmp_path):
    from smm_bench_surrogates.summary import README_BEGIN, README_END, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_BEGIN}\nold\n{README_END}\nafter\n")
    update_readme(readme, "new table\n")
    assert readme.read_text() == f"before\n{README_BEGIN}\nnew table\n{README_END}\nafter\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no '<!-- summary:begin"):
        update_readme(readme, "x")


def test_key_figures_say_when_the_ranking_was_not_compared():
    """A report whose true runs are incomplete for all but one optimiser compares nothing, whatever
    an older report.json stored in ``same_ranking_as_true``."""
    from smm_bench_surrogates.summary import key_figures

    final = {"true": {"a": {"0": 0.5}}, "surrogate": {"a": {"0": 0.4}, "b": {"0": 0.3}},
             "surrogate_unseen_seeds": {"a": {"9": 0.4}}}
    fig = {"final_best": final, "true_runs": {"a": [0], "b": []}, "complete_on_true": ["a"],
           "rankings": {"true": [["a", 0.5]], "surrogate": [["a", 0.4], ["b", 0.3]],
                        "surrogate_unseen_seeds": [["a", 0.4]]},
           "same_ranking_as_true": {"surrogate": True, "surrogate_unseen_seeds": True}}
    lines = key_figures({"name": "x"}, {"figure1": fig, "budget": 10, "seeds": [0]})
    (line,) = [x for x in lines if x.startswith("- Figure 1")]
    assert "true a 0.500 ± 0.000; surrogate a 0.400 ± 0.000 > b 0.300 ± 0.000 (not compared" in line
    assert "same ranking" not in line
    fig["complete_on_true"] = ["a", "b"]
    assert "(same ranking as true over a, b)" in "".join(key_figures({"name": "x"}, {"figure1": fig, "budget": 10, "seeds": [0]}))
    assert "BLAS kernel" not in "".join(lines)  # an older report.json without the kernel: nothing claimed
    (line,) = [x for x in key_figures({"name": "x"}, {"figure1": fig, "budget": 10, "seeds": [0],
                                                      "blas": "openblas 0.3.31 Haswell"}) if x.startswith("- Figure 1")]
    assert "true runs: a 1/1, b 0/1; the surrogate's CMA-ES/CatCMA runs drew on numpy's Haswell BLAS kernel" in line


def test_key_figures_survive_every_report_shape_the_report_can_write():
    """Constant runs (None R²), a constant target's bootstrap (None), an older report without
    unseen seeds, a constant model's zero node visits: rendered as '—' or left out, never a crash."""
    import copy

    from smm_bench_surrogates.summary import key_figures

    scenario = Path(__file__).resolve().parents[1] / "surrogates" / "scenarios" / "smm_ps_mini"
    meta = json.loads((scenario / "meta.json").read_text())
    report = json.loads((scenario / "report.json").read_text())
    full = key_figures(meta, report)
    for bullet in ("- Held-out objective R²", "- Ships ", "- Accuracy against size", "- New optimiser runs",
                   "- Figure 1 ", "- Learning curve", "- Figure 2 ", "- End points"):
        assert sum(line.startswith(bullet) for line in full) == 1, bullet
    assert key_figures(meta, None) == ["- `smm_ps_mini`: no validity report yet."]
    meta2, report2 = copy.deepcopy(meta), copy.deepcopy(report)
    for run in report2["leave_one_run_out"]["runs"].values():
        run["targets"]["objective"].update(r2=None, kendall_tau=None, best_true=None)
    # an older scenario's record of the rule before the selection rule, with a constant target's bootstrap
    meta2["quality"]["ensemble_rule"] = {"tolerance": 0.005, "chosen": "refit", "requested": "auto",
                                         "refit_minus_cv_r2": {"gsm8k_ja_mini": {"point": None, "ci90": None}}}
    del report2["figure1"]["final_best"]["surrogate_unseen_seeds"]
    obj = meta2["quality"]["targets"]["gsm8k_ja_mini"]
    obj["tuning"]["node_visits"] = 0.0
    for key in ("figure2", "learning_curve", "reference_points", "endpoints"):
        report2[key] = None
    text = "\n".join(key_figures(meta2, report2))
    assert "cmaes R² — (tau —)" in text and "refit minus cv: —." in text and "largest miss" not in text
    assert "seeds no true run used" not in text and "Figure 2" not in text and "Learning curve" not in text
    assert "End points" not in text
    best = max(obj["tuning"]["pareto_front"], key=lambda q: q["cv_r2"])
    assert (f"makes 0 node visits; the most accurate trial (CV R² {best['cv_r2']:.3f}) needs {best['node_visits']:,.0f} "
            f"visits and {best['leaves']:,} leaves" in text)  # beside a zero, no "x the kept one" ratio


def test_unknown_ensemble_is_refused(store, tmp_path):
    from smm_bench_surrogates.train import train_scenario

    with pytest.raises(ValueError, match="ensemble must be one of"):
        train_scenario(store, "dfs", tmp_path / "x", n_trials=1, ensemble="median")


def test_tune_returns_the_chosen_trials_own_ensemble():
    """The kept CVBooster is the one a fresh CV of the chosen parameters would build (deterministic)."""
    from smm_bench_surrogates.train import cv_ensemble, tune

    rng = np.random.default_rng(1)
    X = rng.random((400, 5))
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.05 * rng.standard_normal(400)
    tuned = tune(X, y, 0, n_trials=4, seed=0, r2_tolerance=0.01)
    again, r2, size = cv_ensemble(X, y, tuned["params"], 0, 0)
    assert r2 == tuned["cv_r2"] and size["trees"] == tuned["trees"]
    np.testing.assert_array_equal(np.array(tuned["cvbooster"].predict(X)), np.array(again.predict(X)))


def test_training_replaces_a_scenario_folder_and_refuses_other_folders(store, tmp_path):
    from smm_bench_surrogates.train import train_scenario

    out = tmp_path / "smm_dfs_again"
    train_scenario(store, "dfs", out, n_trials=1)
    (out / "REPORT.md").write_text("old report")
    first = (out / "meta.json").read_text()
    train_scenario(store, "dfs", out, n_trials=1, ensemble="refit")  # the documented command, run again
    assert not (out / "REPORT.md").exists() and (out / "meta.json").read_text() != first
    assert load(str(out)).meta["provenance"]["ensemble"] == "refit"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smm_dfs_again"]  # no staging left behind
    assert out.stat().st_mode & 0o777 == 0o755
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a scenario folder"):
        train_scenario(store, "dfs", other, n_trials=1)
    assert (other / "todo.txt").read_text() == "mine"


def test_select_reproduces_a_trained_scenarios_candidates(store, tmp_path):
    """`smm_bench_surrogates.select --scenario`: the rule on the scenario's own rows and split. Tuning is
    deterministic, so re-tuning with as many trials finds the same front and the same choice."""
    from smm_bench_surrogates.select import main, scenario_candidates
    from smm_bench_surrogates.train import train_scenario

    out = tmp_path / "sel"
    q = train_scenario(store, "dfs", out, n_trials=2)
    again = scenario_candidates(out, store, trials=2, roles=("objective",))
    (name,) = again["targets"]
    recorded, now = q["targets"][name], again["targets"][name]
    assert now["chosen"] == recorded["candidate"] == q["selection"]["chosen"][name]
    assert [(r["candidate"], r["r2"], r["as_accurate"]) for r in now["candidates"]] == \
        [(r["candidate"], r["r2"], r["as_accurate"]) for r in recorded["candidates"]]
    tuned_only = scenario_candidates(out, store, trials=0, roles=("objective",))["targets"][name]["candidates"]
    tuned_trial = recorded["tuning"]["trial"]  # its cv, refit and cuts of the cv, in the recorded order
    assert {r["trial"] for r in tuned_only} == {tuned_trial} and [r["ensemble"] for r in tuned_only[:2]] == ["cv", "refit"]
    assert [r["candidate"] for r in tuned_only] == [r["candidate"] for r in recorded["candidates"][:len(tuned_only)]]
    assert tuned_only[0]["r2"] == recorded["candidates"][0]["r2"]  # the reference, rebuilt from its parameters
    report = tmp_path / "sel.json"
    assert main(["--scenario", str(out), "--data", str(store), "--roles", "objective", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["targets"][name]["chosen"] in {r["candidate"] for r in tuned_only}


def test_params_from_rebuilds_a_scenarios_models_without_tuning(store, tmp_path):
    """--params-from: the tuned parameters of a trained scenario; its cv is rebuilt bit for bit, its refit
    exported in a minute (what the end-point comparison of the two needs)."""
    from smm_bench_surrogates.train import train_scenario

    source = tmp_path / "tuned"
    q = train_scenario(store, "dfs", source, n_trials=2, ensemble="cv")
    again = train_scenario(store, "dfs", tmp_path / "again", ensemble="cv", params_from=source)
    refit = train_scenario(store, "dfs", tmp_path / "refit", ensemble="refit", params_from=str(source))
    for name, t in q["targets"].items():
        assert again["targets"][name]["r2"] == t["r2"]  # deterministic: the same ensemble
        assert refit["targets"][name]["r2"] == t["ensembles"]["refit"]["r2"]
        assert refit["targets"][name]["tuning"]["params"] == t["tuning"]["params"]
        assert refit["targets"][name]["tuning"]["params_from"] == "tuned"
    assert load(str(tmp_path / "refit")).meta["provenance"]["params_from"] == "tuned"
    # auto-cv: the rule among the five-fold means only, the tuned one and its cuts to fewer rounds
    from smm_bench_surrogates.select import TRUNCATIONS

    five = train_scenario(store, "dfs", tmp_path / "five", ensemble="auto-cv", params_from=source)
    for name, t in five["targets"].items():
        means = [r for r in t["candidates"] if r["ensemble"] == "cv"]
        full = q["targets"][name]["best_iteration"]
        assert sorted({r["rounds"] for r in means if r["truncated"]}) == sorted(
            {max(1, round(full * f)) for f in TRUNCATIONS} - {full})
        for r in means:  # a cut keeps the five folds: a fifth of its trees per fold
            assert r["trees"] == 5 * r["rounds"] and r["candidate"].endswith(f"@{r['rounds']}") == r["truncated"]
        chosen = min((r for r in means if r["as_accurate"]), key=lambda r: (r["node_visits"], r["leaves"], -r["r2"]))
        assert t["candidate"] == chosen["candidate"] and t["ensemble"] == "cv"
        assert t["best_iteration"] == chosen["rounds"] and t["truncated"] == chosen["truncated"]
        assert set(t["ensembles"]) == {"cv", "refit"}  # the tuned trial's whole mean and refit, not the cuts
    from smm_bench_surrogates.summary import selection_line

    assert selection_line(refit).startswith("- Ships what was requested (`--ensemble refit`), not the cheapest model")
    with pytest.raises(ValueError, match="derived features"):
        train_scenario(store, "dfs", tmp_path / "raw", derived="none", params_from=source)


def test_params_from_names_the_front_trial_its_source_shipped():
    from smm_bench_plugin.scenario import Target
    from smm_bench_surrogates.train import _shipped_front_trial

    front = [{"trial": 2, "cv_r2": 0.8, "node_visits": 10.0, "params": {"num_leaves": 4}},
             {"trial": 7, "cv_r2": 0.9, "node_visits": 50.0, "params": {"num_leaves": 31}}]
    tuning = {"trial": 7, "pareto_front": front}
    target = Target("acc", "test", 0.0, 1.0)

    def meta(trial):
        return {"quality": {"targets": {"acc": {"role": "test", "trial": trial, "tuning": tuning}}}}

    assert _shipped_front_trial(meta(2), target, tuning) == front[0]  # a cheaper front trial shipped: rebuild it
    assert _shipped_front_trial(meta(7), target, tuning) is None  # the tuned trial: it is the reference anyway
    assert _shipped_front_trial(meta(5), target, tuning) is None  # not on the front (no parameters): nothing


def test_ensemble_for_and_retune_choose_per_role_and_rebuild_from_the_record(store, tmp_path, monkeypatch):
    """--ensemble-for objective=cv with --ensemble auto: the objective keeps the model the end-point check
    chose while the others go to the rule; --retune cost tunes that role afresh (its front's cheaper trials
    become candidates) while the rest keep --params-from's parameters. The record rebuilds the same model."""
    import shlex

    from smm_bench_surrogates.summary import selection_line
    from smm_bench_surrogates.train import train_scenario
    from smm_bench_surrogates.training_record import train_command

    source = tmp_path / "tuned"
    tuned = train_scenario(store, "dfs", source, n_trials=2, ensemble="cv")
    out = tmp_path / "mixed"
    assert cli_main(["train", "--data", str(store), "--space", "dfs", "--out", str(out), "--trials", "3",
                     "--params-from", str(source), "--ensemble-for", "objective=cv", "--retune", "cost"]) == 0
    meta = load(str(out)).meta
    prov, q = meta["provenance"], meta["quality"]
    assert prov["ensemble_for"] == {"objective": "cv"} and prov["retuned"] == ["cost"]
    assert q["selection"]["requested_for"] == {"objective": "cv"} and q["selection"]["requested"] == "auto"
    by_role = {t["role"]: (name, t) for name, t in q["targets"].items()}
    obj_name, obj = by_role["objective"]
    assert obj["ensemble"] == "cv" and obj["r2"] == tuned["targets"][obj_name]["r2"]  # the same cv, bit for bit
    assert obj["tuning"]["params_from"] == "tuned" and by_role["test"][1]["tuning"]["params_from"] == "tuned"
    cost_name, cost = by_role["cost"]
    assert "params_from" not in cost["tuning"] and cost["tuning"]["n_trials"] == 3  # tuned here, 3 trials
    assert cost["candidate"] == q["selection"]["rule_would_ship"][cost_name]  # the rule chose it
    test_name, test = by_role["test"]
    assert {r["trial"] for r in test["candidates"]} == {test["tuning"]["trial"]}  # no front: cv and refit only
    line = selection_line(q)
    assert line.startswith("- Ships per target:") and "`--ensemble-for objective=cv`" in line
    command = train_command(out, "dfs", meta)
    assert "--ensemble auto" in command and "--ensemble-for objective=cv" in command and "--retune cost" in command
    words = shlex.split(command)[1:]
    again = tmp_path / "rebuilt" / "mixed"  # the same folder name: the scenario is named after it
    words[words.index("--out") + 1] = str(again)
    monkeypatch.chdir(tmp_path)  # the record names --params-from's scenario, a folder here
    assert cli_main(words) == 0
    assert load(str(again)).meta["model_sha256"] == meta["model_sha256"]  # deterministic from its record
    # without --retune, --params-from keeps what its source shipped a candidate, a front trial included
    kept = train_scenario(store, "dfs", tmp_path / "kept", params_from=out, ensemble_for={"objective": "cv"})
    for name, t in q["targets"].items():
        assert (kept["targets"][name]["candidate"], kept["targets"][name]["r2"]) == (t["candidate"], t["r2"])
    for bad, message in ((["--ensemble-for", "objective=mean"], "ROLE=KIND"),
                         (["--ensemble-for", "score=cv"], "ROLE=KIND"),
                         (["--retune", "cost"], "only with --params-from")):
        with pytest.raises(SystemExit) as e:
            cli_main(["train", "--data", str(store), "--space", "dfs", "--out", str(tmp_path / "bad"), *bad])
        assert e.value.code == 2
    with pytest.raises(ValueError, match="target roles"):
        train_scenario(store, "dfs", tmp_path / "bad", params_from=source, retune=("costs",))
