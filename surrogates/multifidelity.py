"""Train a multi-fidelity scenario (fidelity ``n_items``) from the collection stores, and report its validity.

    python -m smm_bench_surrogates.multifidelity --data collection/data/mini_ps --space ps \\
        --out surrogates/scenarios/smm_ps_mini_mf

The fidelity and its rung targets are defined in ``smm_bench_collection.fidelity``: rung k is the
accuracy on the first k items of a fixed seeded item order, computed from each stored row's
per-item bits, so every stored configuration has a target at every rung.

What is trained, each as the single-fidelity targets are (:func:`~.train.tune`: Optuna over
LightGBM by 5-fold CV, the cheapest trial within tolerance of the best, then one model refitted
on the 9:1 training split with the CV's best iteration, or the 5-fold mean with ``--ensemble cv``):

* ``mu``: the full-fidelity objective (all items);
* ``delta_k``, one per lower rung: ``acc_k - acc_full``. Which items a configuration gets right
  is systematic (the trees learn about half of a rung's deviation on the mini data), so a rung is
  not just the full accuracy plus noise;
* the test accuracy (full test set) and ``eval_seconds`` (the cost of a full evaluation).

The rest of a rung's deviation is item-sampling noise that no model of the mean can give:
the graph adds it as a deterministic function of the configuration (:mod:`smm_bench_plugin.fidelity_graph`),
with variance ``s_k * p(1-p)(1/k - 1/N)``. The scale ``s_k`` is fitted on the TRAINING rows, from
out-of-fold predictions, so that the surrogate's Kendall tau between rung k and the full fidelity
equals the data's; the held-out rows then test whether it holds on configurations never seen
(``quality.rungs``: each rung's R² and tau against the true prefix accuracy with its noise ceiling,
and the rung-to-full tau on the true data and on the surrogate). The cost of rung k is the
predicted full-evaluation seconds times the rung's share measured on real merges
(``smm_bench_collection/prefix_costs.json``: merge + generation and judging of the k-item prefix
only, relative to a full evaluation of both sets as the collection timed it).

The scenario's ``REPORT.md`` / ``report.json`` (written here, from the same numbers) show the
per-rung validity; ``provenance.rows_until`` with ``--until`` retrains on exactly the same rows.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from smm_bench_collection.store import read_stores

from .train import (R2_TOLERANCE, _check_replaceable, _replace, held_out_quality, learner_matrix, load_dataset,
                    refit_ensemble, resolve_derived, split, tune)

ENSEMBLES = ("refit", "cv")
DEFAULT_TRIALS = 12  # per tree target; see the module doc (six tree targets per space)
RUNG_TAU_GOAL = 0.05  # the surrogate's rung-to-full tau within this of the data's
R2_CEILING_GOAL = 0.9  # each rung's held-out R² at least this share of its noise ceiling
TARGET_NAMES = {"objective": "gsm8k_ja_mini", "test": "mgsm_ja_mini", "cost": "eval_seconds"}


def rung_table(data_dir: str | Path, until: str | datetime | None, ladder) -> np.ndarray:
    """Rung accuracies [rows, rungs] of the stored rows, in :func:`~.train.load_dataset`'s row order."""
    from smm_bench_collection.fidelity import rung_accuracies, stored_bits

    return rung_accuracies(stored_bits(read_stores(data_dir, until)), ladder)


def _kendall(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import kendalltau

    t = float(kendalltau(a, b).statistic)
    return None if np.isnan(t) else t


def _oof(X: np.ndarray, y: np.ndarray, rows: np.ndarray, params: dict, rounds: int, n_cat: int,
         seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold predictions on ``rows`` (one model per fold, the tuned params and round count)."""
    import lightgbm as lgb

    out = np.empty(len(rows))
    parts = np.array_split(np.random.default_rng(seed).permutation(len(rows)), folds)
    for part in parts:
        fit = np.setdiff1d(np.arange(len(rows)), part)
        ds = lgb.Dataset(X[rows[fit]], y[rows[fit]], categorical_feature=list(range(n_cat)) or "auto")
        out[part] = lgb.train(params, ds, num_boost_round=rounds).predict(X[rows[part]])
    return out


def surrogate_rungs(mu: np.ndarray, deltas: np.ndarray, x_cat: np.ndarray, x_cont: np.ndarray, lower, upper,
                    ladder, noise_scale) -> np.ndarray:
    """The objective the graph outputs at every rung, [rows, rungs], from raw tree predictions."""
    from smm_bench_plugin.fidelity_graph import reference_outputs

    raw = np.column_stack([mu, deltas])
    return np.column_stack([reference_outputs(raw, x_cat, x_cont, np.full(len(mu), k), lower, upper, ladder,
                                              noise_scale, None)[:, 0] for k in ladder])


def fit_noise_scale(mu: np.ndarray, deltas: np.ndarray, Y: np.ndarray, x_cat, x_cont, lower, upper, ladder,
                    iterations: int = 30) -> list[float]:
    """Per lower rung, the noise scale at which the surrogate's rung-to-full Kendall tau equals the data's.

    Bisection on the scale (tau falls as the noise grows), on out-of-fold predictions of the
    training rows: what the surrogate would output on configurations it did not see. Scale 0
    (no noise) when even the noiseless rung ranks below the data's."""
    from smm_bench_plugin.fidelity_graph import bridge_noise

    bridge = bridge_noise(x_cat, x_cont, lower, upper, ladder)
    p = np.clip(mu, 0.0, 1.0)
    sd = np.sqrt(p * (1.0 - p))
    scales = []
    for j, k in enumerate(ladder[:-1]):
        want = _kendall(Y[:, j], Y[:, -1])

        def tau(scale: float) -> float:
            value = np.clip(mu + deltas[:, j] + sd * bridge[:, j] * scale, 0.0, 1.0)
            return _kendall(np.round(value * k) / k, p)

        lo, hi = 0.0, 4.0
        if tau(lo) <= want:
            scales.append(0.0)
            continue
        for _ in range(iterations):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if tau(mid) > want else (lo, mid)
        scales.append((lo + hi) / 2)
    return scales + [0.0]


def rung_quality(pred: np.ndarray, mean: np.ndarray, Y: np.ndarray, ladder, samplers: np.ndarray) -> dict[str, Any]:
    """Per rung on held-out rows: the output's R² / tau against the true prefix accuracy with the
    rung's noise ceilings, the noiseless rung mean's, and the rung-to-full tau (true and surrogate)."""
    from .train import MIN_GROUP_ROWS

    out = {}
    for j, k in enumerate(ladder):
        q = held_out_quality(pred[:, j], Y[:, j], np.full(len(Y), k))
        q_mean = held_out_quality(mean[:, j], Y[:, j])
        true_tau, surr_tau = _kendall(Y[:, j], Y[:, -1]), _kendall(pred[:, j], pred[:, -1])
        ratio = None if q["r2"] is None or not q["noise_ceiling_r2"] else q["r2"] / q["noise_ceiling_r2"]
        by = {}
        for s in np.unique(samplers):
            rows = samplers == s
            if rows.sum() >= MIN_GROUP_ROWS:
                by[str(s)] = {"n": int(rows.sum()), "true": _kendall(Y[rows, j], Y[rows, -1]),
                              "surrogate": _kendall(pred[rows, j], pred[rows, -1])}
        out[str(k)] = {**q, "r2_of_ceiling": ratio, "mean_r2": q_mean["r2"], "mean_kendall_tau": q_mean["kendall_tau"],
                       "rung_full_tau_true": true_tau, "rung_full_tau_surrogate": surr_tau,
                       "rung_full_tau_gap": None if true_tau is None or surr_tau is None else surr_tau - true_tau,
                       "rung_full_tau_by_sampler": by,
                       "goal_r2": ratio is not None and ratio >= R2_CEILING_GOAL,
                       "goal_tau": j == len(ladder) - 1 or (true_tau is not None and surr_tau is not None
                                                             and abs(surr_tau - true_tau) <= RUNG_TAU_GOAL)}
    return out


def reused_tuning(scenario: str | Path) -> dict[str, tuple[dict[str, Any], int]]:
    """(LightGBM parameters, boosting rounds) per target role of a single-fidelity scenario trained
    by ``train`` (its ``meta.json`` quality): the objective, test and cost targets are the same
    targets on the same rows, so their tuning need not be repeated."""
    meta = json.loads((Path(scenario) / "meta.json").read_text())
    out = {}
    for t in meta["quality"]["targets"].values():
        if (t.get("tuning") or {}).get("params") and t.get("best_iteration"):
            out[t["role"]] = (dict(t["tuning"]["params"]), int(t["best_iteration"]))
    if "objective" not in out:
        raise ValueError(f"{scenario}: meta.json records no tuned objective parameters to reuse")
    return out


def train_multifidelity(data_dir: str | Path, space: str, out: str | Path, *, name: str | None = None,
                        n_trials: int = DEFAULT_TRIALS, seed: int = 0, ensemble: str = "refit",
                        derived: str | None = "auto", until: str | datetime | None = None,
                        tuned_from: str | Path | None = None) -> dict[str, Any]:
    """Tune, train, calibrate, export and report one multi-fidelity scenario; returns its quality.

    ``tuned_from``: a single-fidelity scenario trained on the same rows whose tuned parameters are
    reused for the objective, test and cost targets (only the deltas are tuned here): a fraction
    of the training time. ``out`` is replaced whole (as ``train`` does) only after the export
    passed the parity check."""
    import lightgbm as lgb
    from smm_bench_collection.fidelity import FIDELITY_NAME, ITEM_ORDER_SEED, LADDER, PREFIX_COSTS, cost_shares
    from smm_bench_plugin.convert import write_multifidelity_scenario
    from smm_bench_plugin.lgbm_text import parse_cv_booster_json
    from smm_bench_plugin.scenario import Target, space_tables
    from smm_bench_plugin.spaces import space_json

    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    out = Path(out)
    _check_replaceable(out)
    t0 = time.time()
    ladder = list(LADDER)
    derived = resolve_derived(derived, space)
    data = load_dataset(data_dir, space, until)
    Y = rung_table(data_dir, until, ladder)
    if not np.allclose(Y[:, -1], data.y["objective_acc"], rtol=0, atol=1e-12):
        raise ValueError("the top rung's accuracy differs from objective_acc: the rows and their bits disagree")
    X = learner_matrix(data, derived)
    n_cat = data.n_cat
    _, _, _, lower, upper = space_tables(space_json(space))
    x_cat = (data.X[:, :n_cat] + 1).astype(np.int32)
    x_cont = np.ascontiguousarray(data.X[:, n_cat:])
    train_idx, test_idx = split(len(X), seed)
    columns = ([("mu", Y[:, -1], "objective")] + [(f"delta_{k}", Y[:, j] - Y[:, -1], "delta") for j, k in
                                                   enumerate(ladder[:-1])]
               + [("test", data.y["test_acc"], "test"), ("cost", data.y["eval_seconds"], "cost")])
    reused = reused_tuning(tuned_from) if tuned_from else {}
    fitted, tuning = [], {}
    for label, y, role in columns:
        if role in reused:  # the single-fidelity scenario's tuning of the same target on the same rows
            params, rounds = reused[role]
            print(f"fitting {label} with the tuned parameters of {tuned_from}", flush=True)
            cvb = refit_ensemble(X[train_idx], y[train_idx], params, n_cat, rounds)
            tuning[label] = {"params": params, "best_iteration": rounds, "reused_from": str(tuned_from)}
        else:
            print(f"tuning {label}: {n_trials} trials on {train_idx.size} rows", flush=True)
            tuned = tune(X[train_idx], y[train_idx], n_cat, n_trials, seed, R2_TOLERANCE.get(role, 0.005))
            cvb = tuned.pop("cvbooster")
            if ensemble == "refit":
                cvb = refit_ensemble(X[train_idx], y[train_idx], tuned["params"], n_cat, int(cvb.best_iteration))
            tuning[label] = {k: v for k, v in tuned.items() if k not in ("pareto_front", "front_models")} | {
                "best_iteration": int(cvb.best_iteration)}
        fitted.append((label, cvb))

    def raw(rows: np.ndarray) -> np.ndarray:
        return np.column_stack([np.array(cvb.predict(X[rows])).mean(0) for _, cvb in fitted])

    # noise scale from out-of-fold predictions of the training rows
    print("calibrating the rung noise on out-of-fold predictions", flush=True)
    oof = np.column_stack([_oof(X, y, train_idx, tuning[label]["params"], tuning[label]["best_iteration"], n_cat, seed)
                           for label, y, _ in columns[:len(ladder)]])
    noise_scale = fit_noise_scale(oof[:, 0], oof[:, 1:], Y[train_idx], x_cat[train_idx], x_cont[train_idx], lower,
                                  upper, ladder)
    # held-out validity per rung
    held = raw(test_idx)
    r = len(ladder)
    pred = surrogate_rungs(held[:, 0], held[:, 1:r], x_cat[test_idx], x_cont[test_idx], lower, upper, ladder,
                           noise_scale)
    mean = np.column_stack([np.clip(held[:, 0] + (held[:, j + 1] if j < r - 1 else 0.0), 0, 1) for j in range(r)])
    rungs = rung_quality(pred, mean, Y[test_idx], ladder, data.samplers[test_idx])
    quality = {"split": {"seed": seed, "train": int(train_idx.size), "test": int(test_idx.size)},
               "rungs": rungs,
               "targets": {"test": held_out_quality(np.clip(held[:, r], 0, 1), data.y["test_acc"][test_idx],
                                                    data.n_items["test_acc"][test_idx]),
                           "cost_full": held_out_quality(np.maximum(held[:, r + 1], 0), data.y["eval_seconds"][test_idx])},
               "tuning": tuning, "noise_scale": noise_scale,
               "goals": {"r2_ceiling_share": R2_CEILING_GOAL, "rung_full_tau_gap": RUNG_TAU_GOAL,
                         "all_r2": all(v["goal_r2"] for v in rungs.values()),
                         "all_tau": all(v["goal_tau"] for v in rungs.values())}}
    shares = cost_shares(space)  # read late: the real prefix check may still be measuring while we train
    fidelity = {"name": FIDELITY_NAME, "ladder": ladder, "default": ladder[-1], "item_order_seed": ITEM_ORDER_SEED,
                "noise_scale": noise_scale, "cost_share": [shares[k] for k in ladder],
                "cost_share_source": str(PREFIX_COSTS.name),
                "description": f"objective accuracy on the first {FIDELITY_NAME} items of a fixed seeded item order "
                               "(nested prefixes); test accuracy on the full test set at every rung; cost = predicted "
                               "seconds of a full evaluation x the rung's measured share"}
    targets = [Target(TARGET_NAMES["objective"], "objective", 0.0, 1.0, description=f"objective accuracy at {FIDELITY_NAME}"),
               Target(TARGET_NAMES["test"], "test", 0.0, 1.0, description="accuracy on the held-out test set (all items)"),
               Target(TARGET_NAMES["cost"], "cost", 0.0, float("inf"), direction="minimize",
                      description=f"predicted wall time of one true evaluation at {FIDELITY_NAME} (s)")]
    provenance = {"dataset": str(data_dir), "family_id": data.family_id, "rows": int(len(X)),
                  "rows_until": data.rows_until, "rows_sha256": data.rows_sha256,
                  "samplers": {s: int((data.samplers == s).sum()) for s in np.unique(data.samplers)},
                  "procedure": f"9:1 split, Optuna-tuned LightGBM ({n_trials} trials per tree target, 5-fold CV), "
                               f"{'one model refitted on the training split' if ensemble == 'refit' else '5-fold mean'}; "
                               "rung noise scale fitted on out-of-fold training predictions",
                  "ensemble": ensemble, "lightgbm": lgb.__version__,
                  "command": train_command(data_dir, space, out, n_trials, seed, ensemble, derived, data.rows_until,
                                           tuned_from)}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        trees = [(label, parse_cv_booster_json(cvb.model_to_string())[0]) for label, cvb in fitted]
        folder = write_multifidelity_scenario(staging, name=name or out.name, space=space, trees=trees,
                                              targets=targets, fidelity=fidelity,
                                              description=f"SMM-Bench-{space.upper()} multi-fidelity surrogate "
                                                          f"({FIDELITY_NAME}) trained on {data.family_id}",
                                              provenance=provenance, quality=quality, derived_features=derived)
        quality["export_max_abs_error"] = export_error(folder, held, x_cat[test_idx], x_cont[test_idx], lower, upper,
                                                       ladder, noise_scale, fidelity["cost_share"])
        if quality["export_max_abs_error"] > 1e-12:
            raise RuntimeError(f"ONNX export differs from LightGBM by {quality['export_max_abs_error']:.3g} > 1e-12")
        provenance["seconds"] = round(time.time() - t0, 1)
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["quality"]["export_max_abs_error"] = quality["export_max_abs_error"]
        meta["provenance"]["seconds"] = provenance["seconds"]
        meta_path.write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n")
        write_report(folder, meta)
        _replace(out, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return quality


def export_error(folder: Path, raw: np.ndarray, x_cat, x_cont, lower, upper, ladder, noise_scale, cost_share) -> float:
    """max |scenario - reference| over the held-out rows at every rung, both graphs; the reference is
    the LightGBM models' raw predictions ``raw`` put through the graph's arithmetic in numpy."""
    from smm_bench_plugin import load
    from smm_bench_plugin.fidelity_graph import reference_outputs

    bench = load(folder)
    err = 0.0
    for k in ladder:
        ref = reference_outputs(raw, x_cat, x_cont, np.full(len(raw), k), lower, upper, ladder, noise_scale, cost_share)
        got = bench.evaluate_array(x_cat, x_cont, fidelity=k)
        err = max(err, float(np.abs(got - ref).max()),
                  float(np.abs(bench.objective_array(x_cat, x_cont, fidelity=k) - ref[:, 0]).max()))
    return err


def train_command(data_dir, space: str, out, n_trials: int, seed: int, ensemble: str, derived: str | None,
                  until: str, tuned_from=None) -> str:
    return (f"python -m smm_bench_surrogates.multifidelity --data {data_dir} --space {space} --out {out} "
            f"--trials {n_trials} --seed {seed} --ensemble {ensemble} --derived {derived or 'none'} --until {until}"
            + (f" --tuned-from {tuned_from}" if tuned_from else ""))


# ------------------------------------------------------------------------------- report

def _f(v: Any, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render_report(meta: dict[str, Any], prefix_check: dict[str, Any] | None) -> str:
    """REPORT.md of a multi-fidelity scenario: per-rung validity, the real prefix check, provenance."""
    q, prov, fid = meta["quality"], meta["provenance"], meta["fidelity"]
    lines = [f"# Validity report: {meta['name']} (multi-fidelity, {fid['name']})", "",
             f"Regenerate (trains the model and writes this report, {prov.get('seconds', '?')} s): `{prov['command']}`.", "",
             f"Trained on {prov['rows']} true evaluations of family `{prov['family_id']}` "
             f"({', '.join(f'{k} {v}' for k, v in prov['samplers'].items())}); held-out split: {q['split']['test']} rows. "
             f"Fidelity `{fid['name']}` on the ladder {fid['ladder']}: {fid['description']}. "
             f"Item order: `numpy.random.default_rng({fid['item_order_seed']}).permutation` of the objective items "
             "(`smm_bench_collection.fidelity`).", "",
             "## Per-rung validity (held-out rows)", "",
             "Each rung's output against the TRUE prefix accuracy of the held-out configurations (from their stored "
             "bits), beside the rung's noise ceilings (`train.noise_ceiling_r2` / `noise_ceiling_tau` with k items); "
             "'mean' is the rung's noiseless mean (mu + delta_k), before the item-sampling noise the graph adds. "
             "Rung-to-full tau: Kendall tau between the rung and the full fidelity over the held-out configurations, "
             "on the true data (stored bits) and on the surrogate (its outputs at both fidelities).", "",
             "| n_items | R² | noise ceiling R² | R² / ceiling | tau | noise ceiling tau | mean R² / tau | "
             "rung-to-full tau: true | surrogate | gap | noise scale | cost share |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for j, (k, r) in enumerate(q["rungs"].items()):
        lines.append(f"| {k} | {_f(r['r2'])} | {_f(r['noise_ceiling_r2'])} | {_f(r['r2_of_ceiling'])} | "
                     f"{_f(r['kendall_tau'])} | {_f(r['noise_ceiling_tau'])} | {_f(r['mean_r2'])} / "
                     f"{_f(r['mean_kendall_tau'])} | {_f(r['rung_full_tau_true'])} | {_f(r['rung_full_tau_surrogate'])} | "
                     f"{_f(r['rung_full_tau_gap'], 3)} | {_f(q['noise_scale'][j])} | {_f(fid['cost_share'][j])} |")
    goals = q["goals"]
    lines += ["", f"Goals: every rung's R² at least {goals['r2_ceiling_share']:.0%} of its noise ceiling: "
                  f"**{'met' if goals['all_r2'] else 'NOT met'}**; the surrogate's rung-to-full tau within "
                  f"{goals['rung_full_tau_gap']} of the data's at every rung: **{'met' if goals['all_tau'] else 'NOT met'}**.",
              "", "Rung-to-full tau within each sampler's held-out rows (true / surrogate):", "",
              "| n_items | " + " | ".join(next(iter(q["rungs"].values()))["rung_full_tau_by_sampler"]) + " |",
              "|---|" + "---|" * len(next(iter(q["rungs"].values()))["rung_full_tau_by_sampler"])]
    for k, r in list(q["rungs"].items())[:-1]:
        lines.append(f"| {k} | " + " | ".join(f"{_f(v['true'])} / {_f(v['surrogate'])} (n={v['n']})"
                                              for v in r["rung_full_tau_by_sampler"].values()) + " |")
    t, c = q["targets"]["test"], q["targets"]["cost_full"]
    lines += ["", f"Test accuracy (full test set, every rung): held-out R² {_f(t['r2'])} (noise ceiling "
                  f"{_f(t['noise_ceiling_r2'])}), tau {_f(t['kendall_tau'])}. Cost of a full evaluation: R² {_f(c['r2'])}, "
                  f"tau {_f(c['kendall_tau'])} (mostly machine load). Export: max |ONNX - LightGBM| over the held-out rows "
                  f"at every rung {q.get('export_max_abs_error', float('nan')):.2g}.", ""]
    lines += ["## Real merges scored on the prefix", ""]
    if not prefix_check:
        lines += ["No real prefix check recorded (`python -m smm_bench_collection.fidelity --space "
                  f"{meta['space']}`).", ""]
    else:
        lines += [f"`{prefix_check['command']}` evaluated {len(prefix_check['rows'])} stored configurations for real "
                  "on each rung's prefix (the evaluator stops after k objective items and skips the test set). "
                  f"Prefix accuracy equals the rung target derived from the stored bits for every row and rung: "
                  f"**{'yes' if prefix_check['all_equal_stored'] else 'NO'}**. Seconds of each prefix evaluation relative "
                  "to a full one (both sets), timed back to back on the same merge (median over rows = the cost share):", "",
                  "| config | " + " | ".join(f"k={k}: true / surrogate acc, s" for k in fid["ladder"]) + " | full s |",
                  "|---|" + "---|" * (len(fid["ladder"]) + 1)]
        for row in prefix_check["rows"]:
            cells = [f"{v['accuracy']:.3f} / {_f(v.get('surrogate'))}, {v['seconds']:.2f}" for v in row["rungs"].values()]
            lines.append(f"| {row['config_id'][:8]} | " + " | ".join(cells) + f" | {row['full_seconds']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_report(folder: Path, meta: dict[str, Any] | None = None) -> Path:
    """Write REPORT.md and report.json into a multi-fidelity scenario folder; the real prefix check's
    configurations are also asked of the surrogate (its prediction at each rung beside the true one)."""
    from smm_bench_collection.fidelity import PREFIX_COSTS, read_runs

    from smm_bench_plugin import load

    folder = Path(folder)
    meta = meta or json.loads((folder / "meta.json").read_text())
    check = None
    if PREFIX_COSTS.exists():
        check = json.loads(PREFIX_COSTS.read_text()).get(meta["space"])
    if check:
        bench = load(folder)
        table = read_runs(meta["provenance"]["dataset"])
        ids = table.column("config_id").to_pylist()
        names = set(bench.hyperparameter_names)
        for row in check["rows"]:
            if row["config_id"] not in ids:
                continue
            i = ids.index(row["config_id"])
            config = {n: table.column(n)[i].as_py() for n in table.column_names if n in names}
            for k, v in row["rungs"].items():
                v["surrogate"] = bench.objective(config, fidelity=int(k))
    (folder / "report.json").write_text(json.dumps({"quality": meta["quality"], "prefix_check": check}, indent=1) + "\n")
    path = folder / "REPORT.md"
    path.write_text(render_report(meta, check))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smm_bench_surrogates.multifidelity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="store folder(s) of the space (required unless --report-only)")
    ap.add_argument("--space", choices=("ps", "dfs"), help="required unless --report-only")
    ap.add_argument("--out", required=True)
    ap.add_argument("--trials", type=int, default=DEFAULT_TRIALS, help="Optuna trials per tree target")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ensemble", choices=ENSEMBLES, default="refit")
    ap.add_argument("--derived", default="auto")
    ap.add_argument("--until", default=None, help="train on rows evaluated at or before this ISO date-time only")
    ap.add_argument("--tuned-from", default=None,
                    help="a single-fidelity scenario trained on the same rows: reuse its tuned parameters for the "
                         "objective, test and cost targets (only the per-rung deltas are tuned)")
    ap.add_argument("--report-only", action="store_true", help="rewrite REPORT.md / report.json of --out only")
    a = ap.parse_args(argv)
    if a.report_only:
        print(write_report(Path(a.out)))
        return 0
    if not a.data or not a.space:
        ap.error("--data and --space are required to train")
    q = train_multifidelity(a.data, a.space, a.out, n_trials=a.trials, seed=a.seed, ensemble=a.ensemble,
                            derived=a.derived, until=a.until, tuned_from=a.tuned_from)
    print(json.dumps({k: {m: v[m] for m in ("r2", "r2_of_ceiling", "rung_full_tau_true", "rung_full_tau_surrogate")}
                      for k, v in q["rungs"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
