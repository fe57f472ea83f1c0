"""Where optimisers end: finalists on a surrogate, their true evaluations (cached, resumable), the
end-point check's statistics and the exploitation round, end to end on small synthetic stores.

The synthetic evaluator stands in for merges (this tests the machinery, not merging); the
surrogate is a real LightGBM -> ONNX scenario trained on those stores.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from smm_bench_collection import exploit, plan
from smm_bench_collection.samplers import make_sampler
from smm_bench_collection.store import read_dataset, validate
from smm_bench_collection.synthetic import SyntheticEvaluator, synthetic_spec
from smm_bench_collection.truth import TrueEvaluations
from smm_bench_plugin import load
from smm_bench_plugin.finalists import model_digest, run_finalists
from smm_bench_surrogates import endpoints as E
from smm_bench_surrogates.train import train_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A real PS scenario trained on a small synthetic collection (family synthetic-v1)."""
    root = tmp_path_factory.mktemp("endpoints")
    mp = pytest.MonkeyPatch()
    mp.setitem(plan.PLAN, "ps", [("random", 0, 60), ("cmaes", 0, 40)])
    try:
        assert plan.run_plan("ps", root, family="synthetic", progress=False)
    finally:
        mp.undo()
    folder = root / "smm_ps_synthetic"
    train_scenario(root / "mini_ps", "ps", folder, n_trials=2, ensemble="refit")
    return folder


def test_finalists_are_the_runs_best_and_next_distinct_configurations(scenario, tmp_path):
    bench = load(scenario)
    units = run_finalists(bench, ["random", "sepcma"], [50], [3, 4], top=3, cache=tmp_path / "cache")
    assert [(u["optimizer"], u["seed"]) for u in units] == [("random", 3), ("random", 4), ("sepcma", 3), ("sepcma", 4)]
    for u in units:
        assert bench.objective(u["config"]) == u["surrogate_objective"]  # the best's value, bit for bit
        top = u["top_configs"]
        values = [u["surrogate_objective"], *(t["surrogate_objective"] for t in top)]
        assert len(top) == 3 and values == sorted(values, reverse=True)
        configs = [u["config"], *(t["config"] for t in top)]
        assert all(a != b for i, a in enumerate(configs) for b in configs[i + 1:])
        assert [bench.objective(t["config"]) for t in top] == [t["surrogate_objective"] for t in top]
    from smm_bench_plugin.blas import path_tag  # CMA-ES paths depend on the kernel and CPU: part of the key

    cached = sorted((tmp_path / "cache" / bench.name / model_digest(bench) / path_tag()).glob("*.json"))
    assert len(cached) == 4
    assert run_finalists(bench, ["random", "sepcma"], [50], [3, 4], top=3, cache=tmp_path / "cache") == \
        json.loads(json.dumps(units))  # the second call reads the cache: same records
    parallel = run_finalists(bench, ["random", "sepcma"], [50], [3, 4], top=3, jobs=2)  # processes: same records
    assert [{k: v for k, v in u.items() if k != "seconds"} for u in json.loads(json.dumps(parallel))] == \
        [{k: v for k, v in u.items() if k != "seconds"} for u in json.loads(json.dumps(units))]
    with pytest.raises(ValueError, match="top must be"):
        run_finalists(bench, ["random"], [10], [0], top=-1)
    with pytest.raises(ValueError, match="jobs must be"):
        run_finalists(bench, ["random"], [10], [0], jobs=0)


def _configs(n: int, seed: int = 5) -> list[dict]:
    return make_sampler("random", "ps", seed, batch_size=n).ask()


def test_true_evaluations_are_cached_in_a_store_and_never_paid_twice(tmp_path):
    truth = TrueEvaluations(tmp_path / "store", "ps", family="synthetic", sampler="endpoint")
    configs = _configs(6)
    rows = truth.evaluate([*configs[:4], configs[0]])  # a repeated configuration is evaluated once
    assert truth.evaluated == 4 and [r["evaluated"] for r in rows] == [True] * 4 + [True]
    reference = SyntheticEvaluator("ps")
    for config, row in zip([*configs[:4], configs[0]], rows):
        assert row["objective_acc"] == reference.evaluate(config).objective.accuracy
    again = TrueEvaluations(tmp_path / "store", "ps", family="synthetic", sampler="endpoint")
    rows2 = again.evaluate(configs)
    assert again.evaluated == 2 and [r["evaluated"] for r in rows2] == [False] * 4 + [True, True]
    assert [r["objective_acc"] for r in rows2[:4]] == [r["objective_acc"] for r in rows[:4]]
    table = read_dataset(tmp_path / "store")
    assert sorted(table.column("generation").to_pylist()) == list(range(6))  # slots in order of arrival
    assert set(table.column("sampler").to_pylist()) == {"endpoint"}
    report = validate(tmp_path / "store")
    assert report.ok and report.n_rows == 6
    assert set(again.stored()) == {r["config_id"] for r in rows2}
    with pytest.raises(ValueError, match="sampler must be"):
        TrueEvaluations(tmp_path / "x", "ps", family="synthetic", sampler="")


CHILD = """
import sys
from smm_bench_collection.samplers import make_sampler
from smm_bench_collection.synthetic import synthetic_spec
from smm_bench_collection.truth import TrueEvaluations
configs = make_sampler("random", "ps", 5, batch_size=12).ask()
factory = synthetic_spec("ps", crash_once_dir=sys.argv[2], crash_param="w0_l00", crash_below=0.5)
truth = TrueEvaluations(sys.argv[1], "ps", sampler="endpoint", factory=factory)
truth.evaluate(configs)
print("DONE", truth.evaluated)
"""


@pytest.mark.slow  # kills a process mid-evaluation
def test_a_killed_true_evaluation_resumes_with_the_same_command(tmp_path):
    """A process killed in the middle of its evaluations loses only the one in flight: rerunning
    evaluates what is missing, and every configuration ends in the store exactly once."""
    markers = tmp_path / "markers"
    markers.mkdir()
    configs = _configs(12)
    crashing = sum(c["w0_l00"] < 0.5 for c in configs)
    assert 2 <= crashing < 12  # the seed makes the child die more than once before it finishes
    runs = []
    for _ in range(crashing + 1):
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "store"), str(markers)],
                             capture_output=True, text=True, timeout=120)
        runs.append(out.returncode)
        if out.returncode == 0:
            break
    assert runs == [17] * crashing + [0]
    table = read_dataset(tmp_path / "store")
    truth = TrueEvaluations(tmp_path / "store", "ps", sampler="endpoint", factory=synthetic_spec("ps"))
    assert table.num_rows == 12 and validate(tmp_path / "store").ok
    assert truth.evaluate(configs) and truth.evaluated == 0


@pytest.mark.slow  # kills a batched process mid-evaluation, then resumes it
def test_a_batched_evaluator_stores_every_few_configurations(tmp_path):
    """On the batched engine a batch's results exist only when it ends: the configurations are
    evaluated STORE_EVERY at a time, so a killed process loses one such batch, not the whole call."""
    from smm_bench_collection.truth import STORE_EVERY

    (tmp_path / "markers").mkdir()
    n = 3 * STORE_EVERY
    configs = make_sampler("random", "ps", 5, batch_size=n).ask()
    below = min(c["w0_l00"] for c in configs[:STORE_EVERY])  # the first batch never crashes
    first = next(i for i, c in enumerate(configs) if c["w0_l00"] < below)
    child = CHILD.replace("batch_size=12", f"batch_size={n}").replace("crash_below=0.5)",
                                                                      f"crash_below={below!r}, batched=True)")
    out = subprocess.run([sys.executable, "-c", child, str(tmp_path / "store"), str(tmp_path / "markers")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 17, out.stderr
    assert read_dataset(tmp_path / "store").num_rows == STORE_EVERY * (first // STORE_EVERY)
    for _ in range(n):  # the same command resumes until every configuration is stored once
        if subprocess.run([sys.executable, "-c", child, str(tmp_path / "store"), str(tmp_path / "markers")],
                          capture_output=True, text=True, timeout=120).returncode == 0:
            break
    assert read_dataset(tmp_path / "store").num_rows == n and validate(tmp_path / "store").ok


def test_order_agreement_allows_only_unresolved_swaps():
    surrogate = {"a": [0.9, 0.9, 0.9], "b": [0.8, 0.8, 0.8], "c": [0.1, 0.1, 0.1]}
    true = {"a": [0.50, 0.52, 0.48], "b": [0.51, 0.49, 0.53], "c": [0.2, 0.2, 0.2]}  # a vs b: a tie
    o = E.order_agreement(surrogate, true)
    assert o["surrogate_order"] == ["a", "b", "c"] and o["true_order"] == ["b", "a", "c"]
    assert not o["same_order"] and o["agrees_up_to_ties"] and [p["pair"] for p in o["swapped_pairs"]] == [["a", "b"]]
    true["c"] = [0.9, 0.91, 0.92]  # c is truly best by far: a resolved swap
    o = E.order_agreement(surrogate, true)
    assert not o["agrees_up_to_ties"] and {tuple(p["pair"]) for p in o["resolved_swaps"]} == {("a", "c"), ("b", "c")}
    mean, lo, hi = E.bootstrap_mean([0.1, 0.2, 0.3, 0.4])
    assert lo < mean < hi and mean == pytest.approx(0.25)


def test_endpoint_check_evaluates_each_runs_best_for_real(scenario, tmp_path):
    settings = {"budgets": [30, 60], "seeds": [20000, 20001], "fresh": 20, "checks": tmp_path / "checks",
                "work": tmp_path / "work"}
    e = E.endpoint_check(scenario, family="synthetic", optimizers=["random", "cmaes"], **settings)
    reference = SyntheticEvaluator("ps")
    bench = load(scenario)
    units = run_finalists(bench, ["random", "cmaes"], [30, 60], [20000, 20001], cache=tmp_path / "work")
    for u in units:
        o = e["by_budget"][str(u["budget"])]["optimizers"][u["optimizer"]]
        i = o["seeds"].index(u["seed"])
        assert o["surrogate"][i] == u["surrogate_objective"]
        assert o["true"][i] == reference.evaluate(u["config"]).objective.accuracy
        assert o["gap_mean"] == pytest.approx(np.mean(np.subtract(o["surrogate"], o["true"])))
    te = e["true_evaluations"]
    assert te["fresh_random"] == 20 and te["evaluated_now"] == te["endpoints"] + 20
    objective = load(scenario).meta["quality"]["targets"]["gsm8k_ja_mini"]  # the model's own split, beside the check
    exported = next(r for r in objective["candidates"] if r["candidate"] == objective["candidate"])
    assert e["held_out"] == {"r2": objective["r2"], "kendall_tau": objective["kendall_tau"], "n": objective["n"],
                             "ensemble": "refit", "candidate": objective["candidate"], "trees": exported["trees"],
                             "node_visits": exported["node_visits"]}
    fresh = make_sampler("random", "ps", E.FRESH_RANDOM_SEED, batch_size=20).ask()
    y = np.array([reference.evaluate(c).objective.accuracy for c in fresh])
    p = np.array([bench.objective(c) for c in fresh])
    assert e["fresh_random"]["objective"]["r2"] == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    again = E.endpoint_check(scenario, family="synthetic", optimizers=["random", "cmaes"], **settings)
    assert again["true_evaluations"]["evaluated_now"] == 0 and again["by_budget"] == e["by_budget"]
    lines = "\n".join(E.render_lines(e))
    assert "| 60 | cmaes |" in lines and "Fresh uniform random configurations (20" in lines
    from smm_bench_plugin.blas import blas_kernel  # CMA-ES's end points depend on it: on record and in the text
    assert e["library_versions"]["cmaes"] and e["library_versions"].get("blas") == blas_kernel()
    assert blas_kernel() is None or f"this check ran on {blas_kernel()}" in lines
    partial = E.endpoint_check(scenario, family="synthetic", optimizers=["random", "cmaes"], skip=["cmaes@60"],
                               **settings)
    assert partial["cells_skipped"] == ["cmaes@60"] and list(partial["by_budget"]["60"]["optimizers"]) == ["random"]
    assert partial["by_budget"]["30"] == e["by_budget"]["30"]
    assert "partial: cmaes@60" in "\n".join(E.render_lines(partial))
    assert partial["command"].endswith("--endpoints-only --skip cmaes@60 --fresh 20")  # the command redoes it
    for bad in ("tpe@60", "cmaes@61", "cmaes"):
        with pytest.raises(ValueError, match="OPTIMIZER@BUDGET"):
            E.endpoint_check(scenario, family="synthetic", optimizers=["random", "cmaes"], skip=[bad], **settings)
    out = tmp_path / "record.json"
    assert E.main([str(scenario), "--out", str(out), "--family", "synthetic", "--checks", str(tmp_path / "checks"),
                   "--work", str(tmp_path / "work"), "--skip", "cmaes@60", "--optimizers", "random", "cmaes",
                   "--budgets", "30", "60", "--seeds", "20000", "20001", "--fresh", "20"]) == 0
    record = json.loads(out.read_text())
    assert record["by_budget"]["30"] == json.loads(json.dumps(e["by_budget"]["30"]))
    assert record["cells_skipped"] == ["cmaes@60"] and "--skip cmaes@60" in record["command"]
    skipped = E.endpoint_check(scenario, family="mini", **settings)  # another family checks nothing
    assert "synthetic-v1" in skipped["skipped"] and "Skipped:" in "\n".join(E.render_lines(skipped))


def test_exploitation_round_stores_the_finalists_and_resumes(scenario, tmp_path):
    data = tmp_path / "data"
    summary = exploit.run_round("ps", 2, scenario, data_dir=data, family="synthetic", top=1,
                                seeds_per_budget={40: 2}, progress=False)
    folder = exploit.round_folder("ps", 2, data)
    assert folder.name == "exploit-s2"
    plan_ = json.loads((folder / exploit.PLAN_FILE).read_text())
    assert plan_["seeds"] == {"40": [10200, 10201]} and plan_["model"] == model_digest(load(scenario))
    assert len(plan_["configs"]) == 5 * 2 * 2 and {c["rank"] for c in plan_["configs"]} == {0, 1}
    table = read_dataset(folder)
    assert set(table.column("sampler").to_pylist()) == {"exploit"} and set(table.column("run_seed").to_pylist()) == {2}
    ids = {TrueEvaluations(folder, "ps", family="synthetic").factory.family_id}
    assert ids == set(table.column("family_id").to_pylist())
    assert table.num_rows == len({json.dumps(c["config"], sort_keys=True) for c in plan_["configs"]})
    reference = SyntheticEvaluator("ps")
    best = [c for c in plan_["configs"] if c["rank"] == 0 and c["optimizer"] == "de"]
    de = summary["by_budget"]["40"]["de"]
    assert de["best_true"] == pytest.approx(np.mean([reference.evaluate(c["config"]).objective.accuracy for c in best]))
    assert de["best_gap"] == pytest.approx(de["best_surrogate"] - de["best_true"])
    from smm_bench_collection import card  # the dataset card shows the round: its rows, its plan, its gap

    md = card.render({"ps": card._space_rows(data / "mini_ps")}, None, "card", data)
    n = table.num_rows
    assert f"| exploit-s2 | {n} / {n} |" in md and "its plan, ROUND.json" in md
    bests = [c for c in plan_["configs"] if c["rank"] == 0]
    gap = np.mean([c["surrogate_objective"] - reference.evaluate(c["config"]).objective.accuracy for c in bests])
    row = md.split(f"| 2 | `{plan_['model']}` | {n} / {n} | 40 | 10 | ")[1].split("\n")[0]
    picks = [c for c in plan_["configs"] if c["budget"] == 40]
    true = [reference.evaluate(c["config"]).objective for c in picks]
    err = np.array([c["surrogate_objective"] - t.accuracy for c, t in zip(picks, true)])
    noise = np.mean([np.sqrt(t.accuracy * (1 - t.accuracy) / t.n_items) for t in true])
    assert row.endswith(f"| {gap:+.3f} | {err.mean():+.3f} / {err.std():.3f} ({err.size}) | {noise:.3f} |"), row
    # resume: the plan is read back, not recomputed, and nothing is evaluated twice
    (folder / exploit.PLAN_FILE).write_text(json.dumps({**plan_, "configs": plan_["configs"][:3]}))
    again = exploit.run_round("ps", 2, scenario, data_dir=data, family="synthetic", progress=False)
    assert again["configurations"] == 3 and read_dataset(folder).num_rows == table.num_rows
    with pytest.raises(ValueError, match="at most 100 seeds"):
        exploit.round_seeds(1, 101)
    # a round may leave cells out (TPE's cost grows with its history): no runs there, and the plan says so
    partial = exploit.plan_round("ps", 3, scenario, top=0, seeds_per_budget={40: 1}, progress=False,
                                 skip=["tpe@40"])
    assert partial["cells_skipped"] == ["tpe@40"] and "tpe" not in {c["optimizer"] for c in partial["configs"]}
    assert len(partial["configs"]) == 4
    with pytest.raises(ValueError, match="'tpe@41' is not OPTIMIZER@BUDGET"):
        exploit.plan_round("ps", 3, scenario, seeds_per_budget={40: 1}, progress=False, skip=["tpe@41"])
