"""Train a scenario's surrogates from a collected dataset, as the paper does, and export them.

    smm-bench train --data collection/data/mini_ps --space ps --out surrogates/scenarios/smm_ps_mini

Procedure (Akizuki et al. 2025): a 9:1 train/test split fixed by seed; LightGBM
whose hyperparameters are tuned with Optuna by 5-fold cross-validation; the five fold models'
mean is the prediction, clipped to the target's range; held-out R² and Kendall tau reported.

Beyond the paper, tuning looks at accuracy AND size: every trial records its CV R² and the
ensemble's *evaluation cost*, the number of tree nodes one prediction visits (sum over the
ensemble's trees of the mean leaf depth: what onnxruntime's tree walk pays per row), and the
model kept is the cheapest one whose CV R² is within ``r2_tolerance`` of the best. A cheap
ensemble loads faster, uses less memory and answers sooner, for the same held-out quality;
the number of leaves (file size) is recorded too. The Pareto front is recorded in the
scenario's quality report. Boosting rounds are capped (``MAX_ROUNDS`` per fold) so that very
slow learning rates cannot win by a hair with thousands of trees.

``ensemble="refit"`` (``--ensemble refit``) goes one step further: instead of the mean of the
five fold models, ONE model is trained on the whole training split with the tuned parameters
and the CV's best iteration. It is five times cheaper per prediction. ``ensemble="auto"`` (the
default) lets :mod:`.select` choose per target by accuracy AND cost: among the tuned trial's
``cv`` and ``refit`` and the cheaper trials of the tuning front (each as ``cv`` and ``refit``,
each ``cv`` also cut to fewer rounds; ``"auto-cv"``: among the ``cv`` means only), the cheapest
whose held-out R² is, by a 90% paired-bootstrap interval, less than the tolerance below the
tuned trial's ``cv`` (the reference). Every candidate's scores and interval go on
record (``quality.targets.*.candidates``, ``quality.selection``), whichever is exported;
``--reference-out`` also exports the reference, for the end-point comparison that makes the
final choice (:func:`.select.compare_endpoints`).

Held-out quality is also recorded within each sampler's rows (``by_sampler``) and beside the
*noise ceilings* of each accuracy target (:func:`noise_ceiling_r2`, :func:`noise_ceiling_tau`):
the R² and tau that the true accuracy function itself would reach, given that every accuracy is
a mean over a finite item set.

Targets: ``<objective>`` and ``<test>`` accuracies, and ``eval_seconds`` (role ``cost``), the
predicted wall time of one true evaluation, so optimisers can be compared on simulated
wall-clock as YAHPO does with its runtime targets.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from smm_bench_collection.types import TARGET_COLUMNS
from smm_bench_plugin.derived_features import DEFAULT_SET, FEATURE_SETS

PAPER_TABLE_1 = {  # the paper's Table 1: held-out R² and Kendall tau of the authors' surrogates
    "ps": {"objective": (0.950, 0.883), "test": (0.921, 0.791)},
    "dfs": {"objective": (0.962, 0.863), "test": (0.957, 0.839)},
}


ACCURACY_COLUMNS = {role: c for role, c in TARGET_COLUMNS.items() if role != "cost"}  # target role -> store column


@dataclass
class Dataset:
    """Learner layout: categorical codes 0..K-1 (choice order) then floats, each group sorted by name."""

    X: np.ndarray
    y: dict[str, np.ndarray]  # column name in the store -> values
    n_items: dict[str, np.ndarray]  # accuracy column -> items each value is the mean of (its noise)
    feature_names: list[str]
    n_cat: int
    samplers: np.ndarray
    family_id: str
    run_seeds: np.ndarray  # with ``samplers``: which sampler run (one store folder) each row came from
    rows_until: str = ""  # ISO time of the newest row: with ``--until`` it selects exactly these rows again
    rows_sha256: str = ""  # digest of the sorted config ids: which rows, whatever their order


def load_dataset(data_dir: str | Path, space: str, until: str | datetime | None = None) -> Dataset:
    """Read a collection store (``smm_bench_collection.store`` format) into the learner layout
    (rows evaluated at or before ``until`` only, when given)."""
    from smm_bench_plugin.scenario import space_tables
    from smm_bench_plugin.spaces import space_json

    from smm_bench_collection.store import read_stores  # pyarrow: not at import (the CLI registers train)

    table = read_stores(data_dir, until)
    if table.num_rows == 0:
        raise ValueError(f"dataset {data_dir} has no rows" + (f" evaluated until {until}" if until else ""))
    spaces = set(table.column("space").to_pylist())
    if spaces != {space}:
        raise ValueError(f"dataset {data_dir} holds space(s) {sorted(spaces)}, not {space!r}")
    cat_names, choices, cont_names, _, _ = space_tables(space_json(space))
    cols = []
    for name, levels in zip(cat_names, choices):
        index = {c: i for i, c in enumerate(levels)}
        cols.append(np.array([index[v] for v in table.column(name).to_pylist()], dtype=np.float64))
    cols += [np.asarray(table.column(n).to_numpy(), dtype=np.float64) for n in cont_names]
    X = np.column_stack(cols)
    y = {c: np.asarray(table.column(c).to_numpy(), dtype=np.float64) for c in ("objective_acc", "test_acc", "eval_seconds")}
    n_items = {column: np.asarray(table.column(f"{role}_n_items").to_numpy(), dtype=np.float64)
               for role, column in ACCURACY_COLUMNS.items()}
    families = set(table.column("family_id").to_pylist())
    newest = max(table.column("timestamp").to_pylist())
    ids = sorted(table.column("config_id").to_pylist())
    return Dataset(X, y, n_items, list(cat_names) + list(cont_names), len(cat_names),
                   np.asarray(table.column("sampler").to_pylist()), ",".join(sorted(families)),
                   np.asarray(table.column("run_seed").to_numpy(), dtype=np.int64),
                   rows_until=newest.isoformat(), rows_sha256=hashlib.sha256("\n".join(ids).encode()).hexdigest())


def split(n: int, seed: int, test_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The paper's 9:1 split, fixed by ``seed``."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _lgb_params(trial_params: dict[str, Any], seed: int, n_cat: int) -> dict[str, Any]:
    p = {"objective": "regression", "verbosity": -1, "seed": seed, "deterministic": True, "num_threads": 1,
         "force_row_wise": True, "feature_pre_filter": False}
    p.update(trial_params)
    return p


# How much CV R² a cheaper model may give up. The cost target (seconds per true evaluation) is
# mostly machine noise (other jobs on the collection machine), so its precision buys little.
R2_TOLERANCE = {"objective": 0.005, "test": 0.005, "cost": 0.03}
MAX_ROUNDS = 600  # boosting rounds per fold at most (see module doc)


def _mean_leaf_depth(node: dict, depth: int = 0) -> tuple[int, int]:
    """(sum of leaf depths, number of leaves) of a LightGBM dump tree."""
    if "left_child" not in node:
        return depth, 1
    a, na = _mean_leaf_depth(node["left_child"], depth + 1)
    b, nb = _mean_leaf_depth(node["right_child"], depth + 1)
    return a + b, na + nb


def ensemble_size(cvb) -> dict[str, float]:
    """Trees, leaves and node visits per row (sum of mean leaf depths) of a CV ensemble."""
    trees = [t for b in cvb.boosters for t in b.dump_model(num_iteration=cvb.best_iteration)["tree_info"]]
    visits = 0.0
    for t in trees:
        total, n = _mean_leaf_depth(t["tree_structure"])
        visits += total / n
    return {"trees": len(trees), "leaves": int(sum(t["num_leaves"] for t in trees)), "node_visits": float(visits)}


def cv_ensemble(X, y, params: dict, n_cat: int, seed: int, num_boost_round: int = MAX_ROUNDS):
    """5-fold CV with early stopping; returns (CVBooster, CV R², size from :func:`ensemble_size`)."""
    import lightgbm as lgb

    ds = lgb.Dataset(X, y, categorical_feature=list(range(n_cat)) or "auto", free_raw_data=False)
    res = lgb.cv(params, ds, num_boost_round=num_boost_round, nfold=5, stratified=False, seed=seed,
                 callbacks=[lgb.early_stopping(50, verbose=False)], return_cvbooster=True, metrics="l2")
    cvb = res["cvbooster"]
    l2 = float(res["valid l2-mean"][-1])
    r2 = 1.0 - l2 / float(np.var(y))
    return cvb, r2, ensemble_size(cvb)


ENSEMBLES = ("auto", "auto-cv", "cv", "refit")
ROLES = tuple(TARGET_COLUMNS)  # the target roles a scenario exports, in export order
DERIVED_CHOICES = ("auto", "none", *FEATURE_SETS)  # CLI: the space default, raw only, or a named set


def check_ensemble_for(mapping: dict[str, str]) -> dict[str, str]:
    """``ensemble_for`` (role -> kind, ``--ensemble-for``) checked against :data:`ROLES` and :data:`ENSEMBLES`."""
    bad = [f"{role}={kind}" for role, kind in mapping.items() if role not in ROLES or kind not in ENSEMBLES]
    if bad:
        raise ValueError(f"--ensemble-for takes ROLE=KIND with ROLE in {ROLES} and KIND in {ENSEMBLES}, got {bad}")
    return dict(mapping)


def parse_ensemble_for(items: Sequence[str]) -> dict[str, str]:
    """``["objective=cv", ...]`` (the command line's ``--ensemble-for``) -> ``{"objective": "cv"}``, checked."""
    out: dict[str, str] = {}
    for item in items:
        role, _, kind = item.partition("=")
        if role in out and out[role] != kind:
            raise ValueError(f"--ensemble-for gives role {role!r} twice ({out[role]!r} and {kind!r})")
        out[role] = kind
    return check_ensemble_for(out)


def check_retune(retune: str | Sequence[str], params_from: str | Path | None) -> tuple[str, ...]:
    """``retune`` (``"test,cost"`` or a sequence of roles) as a tuple of roles from :data:`ROLES`; only
    with ``params_from``, since without it every role is tuned anyway."""
    roles = tuple(r for r in (retune.split(",") if isinstance(retune, str) else retune) if r)
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ValueError(f"--retune takes target roles from {ROLES} (comma-separated), got {bad}")
    if roles and params_from is None:
        raise ValueError("--retune: only with --params-from (without it every role is tuned)")
    return roles


def refit_ensemble(X, y, params: dict, n_cat: int, num_boost_round: int):
    """One model on all of ``X`` with the CV's best round count, as a one-fold ``CVBooster``.

    A one-fold CVBooster is what the exporter and the parity check already understand (its
    "mean" is the model itself), so the refit model takes the same path to ONNX.
    """
    import lightgbm as lgb

    ds = lgb.Dataset(X, y, categorical_feature=list(range(n_cat)) or "auto")
    cvb = lgb.CVBooster()
    cvb.boosters = [lgb.train(params, ds, num_boost_round=num_boost_round)]
    cvb.best_iteration = num_boost_round
    return cvb


def paired_r2_difference(pred_a: np.ndarray, pred_b: np.ndarray, y: np.ndarray, n_boot: int = 2000,
                         seed: int = 0) -> dict[str, Any]:
    """R²(a) - R²(b) on the same rows, with a 90% paired-bootstrap interval.

    Why: two models scored on one held-out split share its luck; resampling the rows (the same
    rows for both) measures how much of their difference is the split's. None when ``y`` is
    constant.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2 or float(np.var(y)) <= 0:
        return {"point": None, "ci90": None, "n_boot": n_boot}

    def r2(p, t):
        ss_tot = ((t - t.mean(-1, keepdims=True)) ** 2).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 - ((t - p) ** 2).sum(-1) / ss_tot

    idx = np.random.default_rng(seed).integers(0, y.size, size=(n_boot, y.size))
    with np.errstate(invalid="ignore"):  # inf - inf on a resample with constant y: dropped below
        diffs = r2(pred_a[idx], y[idx]) - r2(pred_b[idx], y[idx])
    diffs = diffs[np.isfinite(diffs)]  # a resample with constant y has no R²
    lo, hi = np.quantile(diffs, [0.05, 0.95])
    return {"point": float(r2(pred_a, y) - r2(pred_b, y)), "ci90": [float(lo), float(hi)], "n_boot": n_boot}


def tune(X, y, n_cat: int, n_trials: int, seed: int, r2_tolerance: float = 0.005) -> dict[str, Any]:
    """Optuna (multi-objective TPE: max CV R², min node visits per row) -> the cheapest near-best params,
    with that trial's own CVBooster (``cvbooster``) and those of every trial on the front
    (``front_models``, by trial number), so that neither the kept model nor the cheaper candidates of
    :mod:`.select` need training again."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    front: dict[int, tuple[float, float, Any]] = {}  # trial -> (CV R², node visits, CVBooster), non-dominated so far

    def objective(trial: optuna.Trial):
        params = _lgb_params({
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": 1,
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }, seed, n_cat)
        cvb, r2, size = cv_ensemble(X, y, params, n_cat, seed)
        for booster in cvb.boosters:
            booster.free_dataset()  # kept for prediction and export only: the fold's training data can go
        trial.set_user_attr("params", params)
        trial.set_user_attr("size", size)
        front[trial.number] = (r2, size["node_visits"], cvb)
        for number in [n for n, (v, c, _) in front.items()
                       if any(v2 >= v and c2 <= c and (v2, c2) != (v, c) for v2, c2, _ in front.values())]:
            del front[number]  # dominated: never the kept trial (the cheapest near-best is on the front), never a candidate
        return r2, size["node_visits"]

    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))
    study.optimize(objective, n_trials=n_trials)
    trials = [t for t in study.trials if t.values is not None]
    best_r2 = max(t.values[0] for t in trials)
    near = [t for t in trials if t.values[0] >= best_r2 - r2_tolerance]
    chosen = min(near, key=lambda t: t.values[1])
    pareto = sorted(study.best_trials, key=lambda t: t.values[1])
    return {"cvbooster": front[chosen.number][2],  # the chosen trial's own ensemble: no refit needed
            "front_models": {n: m for n, (_, _, m) in front.items()},
            "trial": chosen.number, "params": chosen.user_attrs["params"], "cv_r2": chosen.values[0],
            **chosen.user_attrs["size"], "best_cv_r2": best_r2, "r2_tolerance": r2_tolerance,
            "pareto_front": [{"cv_r2": t.values[0], **t.user_attrs["size"], "trial": t.number,
                              "params": t.user_attrs["params"]} for t in pareto],
            "n_trials": len(trials)}


PROCEDURES = {
    "cv": "9:1 split, Optuna-tuned LightGBM, 5-fold CV ensemble mean (Akizuki et al. 2025)",
    "refit": "9:1 split, Optuna-tuned LightGBM (5-fold CV), one model refitted on the training split "
             "with the CV's best iteration (beyond Akizuki et al. 2025, who average the 5 fold models)",
    "per target": "9:1 split, Optuna-tuned LightGBM (5-fold CV); per target the cheapest of the tuned trial's "
                  "5-fold CV mean, its refit and the cheaper trials of the tuning front (CV mean or refit), each "
                  "CV mean also cut to fewer rounds, whose held-out R² is as accurate as the tuned trial's CV mean "
                  "(smm_bench_surrogates.select)",
}


def noise_ceiling_r2(y: np.ndarray, n_items: np.ndarray) -> float | None:
    """How much of the accuracies' spread is item sampling: the R² of the item-population accuracy.

    Why: an accuracy is the mean of ``n_items`` right/wrong answers, so it differs from the
    configuration's accuracy over the whole item population, p, by sampling noise of variance
    p(1-p)/n. ``y(1-y)/(n-1)`` estimates that variance without bias, so
    ``1 - mean(noise) / var(y)`` is, in expectation, the R² that p itself would get on these
    rows. The mini test set has 128 items, so this is well below 1, and a surrogate R² near it
    means the surrogate has learnt what the benchmark is meant to measure. It is not a hard
    bound: the items are fixed, so a configuration's deviation from p is shared by its
    neighbours and a surrogate can learn part of it (mostly on clustered optimiser rows). It
    assumes item outcomes independent across items. None when undefined (constant ``y``, or
    fewer than 2 items).
    """
    var = float(np.var(y))
    if var <= 0 or np.min(n_items) < 2:
        return None
    noise = float(np.mean(y * (1.0 - y) / (n_items - 1)))
    return 1.0 - noise / var


def noise_ceiling_tau(y: np.ndarray, n_items: np.ndarray, draws: int = 20, seed: int = 0) -> float | None:
    """The Kendall tau the item-population accuracy would get on these rows: a simulated estimate.

    Why: the aims and the paper quote tau too, and tau has no closed-form ceiling. The model is
    :func:`noise_ceiling_r2`'s: the population accuracies ``p`` are estimated by the observed
    ones shrunk toward their mean until their variance is ``var(y)`` times the R² ceiling, new
    accuracies are drawn as Binomial(n, p) / n, and tau(p, draw) is averaged over ``draws``
    seeded draws. An optimistic estimate, not a bound: on simulated benchmarks it is within 0.01
    of a perfect surrogate's tau for spread accuracies and 128-256 items, and errs HIGH (by up
    to 0.1) when most accuracies sit near 0, where ties in the observations cost the true
    function more than the model assumes. So a tau above it is not expected, and an aim above
    it is out of reach. None when the R² ceiling is undefined or not positive.
    """
    from scipy.stats import kendalltau

    ceiling = noise_ceiling_r2(y, n_items)
    if ceiling is None or ceiling <= 0:
        return None
    p = np.clip(y.mean() + np.sqrt(ceiling) * (y - y.mean()), 0.0, 1.0)
    n = np.asarray(n_items).astype(np.int64)
    rng = np.random.default_rng(seed)
    taus = [kendalltau(p, rng.binomial(n, p) / n).statistic for _ in range(draws)]
    taus = [t for t in taus if not np.isnan(t)]
    return float(np.mean(taus)) if taus else None


def held_out_quality(pred: np.ndarray, y: np.ndarray, n_items: np.ndarray | None = None) -> dict[str, Any]:
    """R², Kendall tau and row count; with ``n_items`` (an accuracy target) also their noise
    ceilings, :func:`noise_ceiling_r2` and :func:`noise_ceiling_tau`.

    Undefined values (constant ``y``: R² and tau have no meaning) are None, so that meta.json
    stays strict JSON.
    """
    from scipy.stats import kendalltau

    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    tau = float(kendalltau(pred, y).statistic)
    q = {"r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else None,
         "kendall_tau": None if np.isnan(tau) else tau, "n": int(y.size)}
    if n_items is not None:
        q["noise_ceiling_r2"] = noise_ceiling_r2(y, n_items)
        q["noise_ceiling_tau"] = noise_ceiling_tau(y, n_items)
    return q


MIN_GROUP_ROWS = 30  # below this, a per-sampler R², tau or ceiling is too noisy to print


def quality_by_sampler(pred: np.ndarray, y: np.ndarray, samplers: np.ndarray,
                       n_items: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Held-out quality within each sampler's rows.

    Why: the held-out split mixes populations that differ in difficulty. Uniform random rows
    mostly score near 0 with many ties (low rank correlation), optimiser rows sit in the good
    region. A change of the overall tau after a retrain is read off this table, not guessed.
    R² here uses the group's own mean, so it measures fit *within* the group. Groups with fewer
    than ``MIN_GROUP_ROWS`` rows get only their size.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in np.unique(samplers):
        rows = samplers == name
        n = int(rows.sum())
        out[str(name)] = held_out_quality(pred[rows], y[rows], None if n_items is None else n_items[rows]) \
            if n >= MIN_GROUP_ROWS else {"n": n}
    return out


LEARNING_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def learner_matrix(data: Dataset, derived: str | None) -> np.ndarray:
    """The learner's features: the raw layout, then the ``derived`` set's columns (computed by
    onnxruntime with the scenario graph's own nodes, see :mod:`smm_bench_plugin.derived_features`)."""
    if derived is None:
        return data.X
    from smm_bench_plugin.derived_features import compute

    return np.column_stack([data.X, compute(derived, data.X, data.n_cat)])


def resolve_derived(derived: str | None, space: str) -> str | None:
    """``"auto"`` -> the space's default set (DFS: ``dfs-path-v2``; PS: ``ps-mean-v1``); ``"none"`` -> None."""
    if derived == "auto":
        return DEFAULT_SET.get(space)
    if derived in (None, "none"):
        return None
    if derived not in FEATURE_SETS:
        raise ValueError(f"derived must be 'auto', 'none' or one of {sorted(FEATURE_SETS)}, got {derived!r}")
    return derived


def learning_curve(data: str | Path | Dataset, space: str, params: dict[str, dict[str, Any]], seed: int = 0,
                   fractions: tuple[float, ...] = LEARNING_FRACTIONS, derived: str | None = None) -> dict[str, Any]:
    """Held-out R² and tau of the paper's CV ensemble trained on growing shares of the training split.

    Why: it says whether collecting more rows would still improve a surrogate (a curve still
    rising at the full dataset means yes), and tells a user who collects their own scenario
    what a number of true evaluations buys. ``params`` maps a target role (``objective``,
    ``test``) to LightGBM parameters, normally the scenario's tuned ones: they are not re-tuned
    per size, which is cheaper and isolates the effect of the rows. The subsets are nested
    (prefixes of one seeded permutation of the training split), and every size is scored on
    the same held-out rows: :func:`split` of the dataset as it is now, by ``seed``. Pass a
    loaded :class:`Dataset` to compare feature sets on exactly the same rows (a store that is
    still being collected grows between two reads).
    """
    if not isinstance(data, Dataset):
        data = load_dataset(data, space)
    X = learner_matrix(data, derived)
    train_idx, test_idx = split(len(X), seed)
    order = np.random.default_rng(seed).permutation(train_idx)
    out: dict[str, Any] = {"dataset_rows": int(len(X)), "held_out_rows": int(test_idx.size), "seed": seed,
                           "fractions": list(fractions), "derived_features": derived, "targets": {}}
    for role, target_params in params.items():
        column = ACCURACY_COLUMNS[role]
        y = data.y[column]
        points = []
        for fraction in fractions:
            rows = np.sort(order[:max(20, int(round(fraction * order.size)))])
            pred, size = fit_predict(X, y, rows, test_idx, target_params, data.n_cat, seed)
            q = held_out_quality(pred, y[test_idx])
            points.append({"rows": int(rows.size), "r2": q["r2"], "kendall_tau": q["kendall_tau"],
                           "trees": size["trees"]})
        out["targets"][role] = {"points": points,
                                "noise_ceiling_r2": noise_ceiling_r2(y[test_idx], data.n_items[column][test_idx])}
    return out


MIN_RUN_ROWS = 100  # a held-out run shorter than this (just started) says little about a new trajectory


def run_name(sampler: str, run_seed: int) -> str:
    """A sampler run's name: its store folder's name in the collection plan (``catcma-s1``)."""
    from smm_bench_collection.plan import run_folder

    return run_folder(Path(), sampler, run_seed).name


def tuned_params_of(quality: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A scenario's tuned LightGBM parameters per accuracy target role, from its meta.json ``quality``."""
    return {t["role"]: t["tuning"]["params"] for t in quality.get("targets", {}).values()
            if t.get("role") in ACCURACY_COLUMNS and (t.get("tuning") or {}).get("params")}


def leave_one_run_out(data: str | Path | Dataset, space: str, params: dict[str, dict[str, Any]],
                      samplers: tuple[str, ...], seed: int = 0, derived: str | None = None,
                      min_rows: int = MIN_RUN_ROWS, one_run_fewer: bool = True) -> dict[str, Any]:
    """Quality on a whole optimiser run that training never saw: each run of ``samplers`` held out in turn.

    Why: the 9:1 split scores rows whose neighbours on the same optimiser trajectory are in
    the training rows, so it flatters a surrogate exactly where optimisers go. A user's
    optimiser makes a NEW trajectory. Here each run (one store folder) is held out whole and
    the paper's CV ensemble, with ``params`` (the scenario's tuned parameters per target role,
    not re-tuned), is trained on every other row. Beside R² and tau within the run, the top
    decile of the run's true objective and the run's best configuration show whether the
    surrogate under- or over-estimates the good region the run reached: an optimiser on the
    surrogate can only find what the surrogate believes is there. Runs with fewer than
    ``min_rows`` rows are listed as skipped.

    For the objective, the run is also scored by a model trained without one more run of the
    same sampler (the other run with the highest seed; ``one_run_fewer``): the gap between the
    two says whether another run of that optimiser would still improve the surrogate where
    optimisers go, as the learning curve does for rows (``one_run_fewer=False`` skips it).
    """
    if not isinstance(data, Dataset):
        data = load_dataset(data, space)
    X = learner_matrix(data, derived)
    out: dict[str, Any] = {"samplers": list(samplers), "min_rows": min_rows, "seed": seed,
                           "derived_features": derived, "runs": {}, "skipped": {}, "predictions": {}}
    masks = {(s, r): (data.samplers == s) & (data.run_seeds == r)  # one row mask per run, computed once
             for s, r in sorted({(str(s), int(r)) for s, r in zip(data.samplers, data.run_seeds) if s in samplers})}
    long_enough = {run for run, mask in masks.items() if mask.sum() >= min_rows}
    for (sampler, run_seed), held in masks.items():
        name = run_name(sampler, run_seed)
        if (sampler, run_seed) not in long_enough:
            out["skipped"][name] = int(held.sum())
            continue
        record: dict[str, Any] = {"sampler": sampler, "run_seed": run_seed, "rows": int(held.sum()),
                                  "train_rows": int((~held).sum()), "targets": {}}
        others = [r for s, r in long_enough if s == sampler and r != run_seed]
        for role, target_params in params.items():
            column = ACCURACY_COLUMNS[role]
            y = data.y[column]
            pred, _ = fit_predict(X, y, ~held, held, target_params, data.n_cat, seed)
            q = held_out_quality(pred, y[held], data.n_items[column][held])
            top = y[held] >= np.quantile(y[held], 0.9)
            best = int(np.argmax(y[held]))
            record["targets"][role] = {**q, "top_decile_true": float(y[held][top].mean()),
                                       "top_decile_predicted": float(pred[top].mean()),
                                       "best_true": float(y[held][best]), "predicted_at_best": float(pred[best])}
            out["predictions"].setdefault(name, {"sampler": sampler})[role] = {"true": y[held].tolist(),
                                                                               "predicted": pred.tolist()}
            if one_run_fewer and role == "objective" and others:
                dropped = masks[(sampler, max(others))]
                fewer, _ = fit_predict(X, y, ~held & ~dropped, held, target_params, data.n_cat, seed)
                record["targets"][role]["one_run_fewer"] = {
                    "dropped": run_name(sampler, max(others)), "train_rows": int((~held & ~dropped).sum()),
                    **{k: v for k, v in held_out_quality(fewer, y[held]).items() if k in ("r2", "kendall_tau")},
                    "top_decile_predicted": float(fewer[top].mean())}
        out["runs"][name] = record
    return out


def fit_predict(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, params: dict, n_cat: int,
                 seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """The paper's CV ensemble on the ``train`` rows (a mask or indices): its mean prediction on the
    ``test`` rows, clipped to [0, 1], and its size (:func:`ensemble_size`)."""
    cvb, _, size = cv_ensemble(X[train], y[train], params, n_cat, seed)
    return np.array(cvb.predict(X[test])).mean(0).clip(0.0, 1.0), size


def train_scenario(data_dir: str | Path, space: str, out: str | Path, name: str | None = None,
                   n_trials: int = 40, seed: int = 0, target_names: tuple[str, str] = ("gsm8k_ja_mini", "mgsm_ja_mini"),
                   only_samplers: tuple[str, ...] | None = None, ensemble: str = "auto",
                   derived: str | None = "auto", until: str | datetime | None = None,
                   reference_out: str | Path | None = None, params_from: str | Path | None = None,
                   ensemble_for: dict[str, str] | None = None, retune: Sequence[str] = ()) -> dict[str, Any]:
    """Tune, train, export and report; returns the quality report written into meta.json.

    ``out`` is created, or replaced whole if it is a scenario folder (its validity report goes
    with it: rerun the report); the new scenario is built beside it and swapped in only once
    its export passed the parity check.

    ``ensemble``: ``"cv"`` exports the paper's mean of the five fold models, ``"refit"`` one
    model refitted on the whole training split, ``"auto"`` per target whichever candidate the
    selection rule picks (:mod:`.select`: the cheapest as accurate as the tuned trial's ``cv``),
    ``"auto-cv"`` the same among five-fold means only (whole or cut to fewer rounds);
    every candidate is scored held out either way. ``reference_out``: with ``"auto"``, also export
    the reference (every target's tuned ``cv``) into this folder, for the end-point comparison
    (:func:`.select.compare_endpoints`); nothing is written there when the rule chose the reference.
    ``params_from``: a trained scenario (name or folder) whose tuned parameters are used instead of
    tuning (its recorded tuning goes on record; of the front's cheaper trials only the one that scenario
    shipped is a candidate, rebuilt from its recorded parameters: the others' models are gone): rebuilds
    that scenario's reference, or what it shipped, in minutes instead of a tuning.
    ``ensemble_for``: per target role, a kind that overrides ``ensemble`` for that role, e.g.
    ``{"objective": "cv"}`` with ``ensemble="auto"``: the objective keeps what the end-point check
    chose while the targets it does not judge (test, cost) go to the rule's cheapest as-accurate model.
    ``retune``: with ``params_from``, the roles tuned afresh here (their fronts' cheaper trials become
    candidates again) while the other roles keep the recorded parameters.
    ``derived``: a set of :mod:`smm_bench_plugin.derived_features` appended to the raw features
    (``"auto"``: the space's default, ``"none"``: the paper's raw features only).
    ``until``: train on the rows evaluated at or before that time only. The provenance records
    the newest row's time (``rows_until``) and a digest of the row ids (``rows_sha256``), so
    the same command with ``--until`` rebuilds the model while the stores keep growing.
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    ensemble_for, retune = check_ensemble_for(ensemble_for or {}), check_retune(retune, params_from)
    kind_of = {role: ensemble_for.get(role, ensemble) for role in ROLES}
    out = Path(out)
    _check_replaceable(out)  # before the tuning, not after it
    if reference_out is not None:
        _check_replaceable(Path(reference_out))
    import lightgbm as lgb

    from smm_bench_plugin.scenario import Target

    from .select import candidates_of, choose, rule_record, score

    derived = resolve_derived(derived, space)
    tuned_by = None if params_from is None else _tuned_scenario(params_from, space, derived)
    t0 = time.time()
    data = load_dataset(data_dir, space, until)
    keep = np.ones(len(data.X), dtype=bool) if only_samplers is None else np.isin(data.samplers, only_samplers)
    X, ys = learner_matrix(data, derived)[keep], {k: v[keep] for k, v in data.y.items()}
    items = {k: v[keep] for k, v in data.n_items.items()}
    train_idx, test_idx = split(len(X), seed)
    test_samplers = data.samplers[keep][test_idx]
    roles = [("objective_acc", Target(target_names[0], "objective", 0.0, 1.0, direction="maximize",
                                      description="accuracy on the objective set")),
             ("test_acc", Target(target_names[1], "test", 0.0, 1.0, direction="maximize",
                                 description="accuracy on the held-out test set")),
             ("eval_seconds", Target("eval_seconds", "cost", 0.0, float("inf"), direction="minimize",
                                     description="predicted wall time of one true evaluation (s)"))]
    fitted = []  # per target: its store column, Target, tuning, candidates (models) and their held-out records
    for column, target in roles:
        y = ys[column]
        tolerance = R2_TOLERANCE[target.role]
        kind = kind_of[target.role]
        if tuned_by is None or target.role in retune:
            print(f"tuning {target.name}: {n_trials} trials on {train_idx.size} rows", flush=True)
            tuned = tune(X[train_idx], y[train_idx], data.n_cat, n_trials, seed, tolerance)
            reference, fronts = tuned.pop("cvbooster"), tuned.pop("front_models")
        else:  # another scenario's tuning: its parameters, its front on record, the front trial it shipped
            tuned = _recorded_tuning(tuned_by, target)
            reference, _, _ = cv_ensemble(X[train_idx], y[train_idx], tuned["params"], data.n_cat, seed)
            shipped = _shipped_front_trial(tuned_by, target, tuned) if kind.startswith("auto") else None
            fronts = {} if shipped is None else {shipped["trial"]: cv_ensemble(
                X[train_idx], y[train_idx], shipped["params"], data.n_cat, seed)[0]}
        candidates = candidates_of(X[train_idx], y[train_idx], data.n_cat, tuned["trial"], tuned, reference,
                                   fronts if kind.startswith("auto") else {}, tolerance)
        del fronts
        records = score(candidates, X[test_idx], y[test_idx], target.lower, target.upper, tolerance, seed)
        exported = ({"cv": records[0], "refit": records[1]}.get(kind)
                    or choose(records, five_fold_only=kind == "auto-cv"))
        fitted.append({"column": column, "target": target, "tuning": tuned, "records": records,
                       "models": {r["candidate"]: c.model for r, c in zip(records, candidates)},
                       "exported": exported["candidate"], "reference": records[0]["candidate"]})
    provenance = {"dataset": str(data_dir), "family_id": data.family_id, "rows": int(keep.sum()),
                  "rows_until": data.rows_until, "rows_sha256": data.rows_sha256,
                  "samplers": {s: int((data.samplers[keep] == s).sum()) for s in np.unique(data.samplers[keep])},
                  "ensemble_requested": ensemble, "lightgbm": lgb.__version__,
                  **({"ensemble_for": ensemble_for} if ensemble_for else {}),
                  **({"params_from": tuned_by.get("name")} if tuned_by is not None else {}),
                  **({"retuned": list(retune)} if retune else {})}
    split_record = {"seed": seed, "train": int(train_idx.size), "test": int(test_idx.size)}

    def quality_of(key: str) -> tuple[dict[str, Any], dict[str, Any], list]:
        """(quality, provenance, models) of the scenario exporting each target's ``fitted[key]`` candidate."""
        quality = {"split": split_record, "targets": {}, "paper_table_1": PAPER_TABLE_1.get(space),
                   "selection": {**rule_record(R2_TOLERANCE, ensemble, ensemble_for),
                                 "chosen": {f["target"].name: f[key] for f in fitted},
                                 "rule_would_ship": {f["target"].name: choose(f["records"])["candidate"]
                                                     for f in fitted}}}
        models, kinds = [], {}
        for f in fitted:
            target, y_test = f["target"], ys[f["column"]][test_idx]
            model = f["models"][f[key]]
            record = next(r for r in f["records"] if r["candidate"] == f[key])
            pred = np.array(model.predict(X[test_idx])).mean(0).clip(target.lower, target.upper)
            held_items = items[f["column"]][test_idx] if f["column"] in items else None
            q = held_out_quality(pred, y_test, held_items)
            ceilings = {k: v for k, v in q.items() if k.startswith("noise_ceiling")}
            quality["targets"][target.name] = {
                "role": target.role, **q, "ensemble": record["ensemble"], "trial": record["trial"],
                "candidate": record["candidate"], "truncated": bool(record.get("truncated")),
                "ensembles": {r["ensemble"]: {**{k: r[k] for k in ("r2", "kendall_tau", "trees", "leaves", "node_visits")},
                                              "n": q["n"], **ceilings}
                              for r in f["records"] if r["trial"] == f["tuning"]["trial"] and not r.get("truncated")},
                "candidates": f["records"],
                "by_sampler": quality_by_sampler(pred, y_test, test_samplers, held_items),
                "tuning": f["tuning"], "best_iteration": int(model.best_iteration)}
            kinds[target.name] = record["ensemble"]
            models.append((target, model))
        kind = next(iter(set(kinds.values()))) if len(set(kinds.values())) == 1 else "per target"
        prov = {**provenance, "procedure": PROCEDURES[kind], "ensemble": kind, "ensembles": kinds,
                "seconds": round(time.time() - t0, 1)}
        return quality, prov, models

    quality, prov, models = quality_of("exported")
    if reference_out is not None and any(f["exported"] != f["reference"] for f in fitted):
        ref_quality, ref_prov, ref_models = quality_of("reference")
        ref_prov["ensemble_requested"] = "cv"  # the reference is every target's cv: its rebuild command says so
        ref_prov.pop("ensemble_for", None)
        _export(Path(reference_out), space, name or Path(reference_out).name, data.family_id, ref_models, ref_prov,
                ref_quality, derived, X[test_idx])
    _export(out, space, name or out.name, data.family_id, models, prov, quality, derived, X[test_idx])
    return quality


def _tuned_scenario(scenario: str | Path, space: str, derived: str | None) -> dict[str, Any]:
    """``params_from``'s meta.json, checked: same space, same derived features (the parameters were tuned for them)."""
    from smm_bench_plugin import load

    meta = load(scenario).meta
    theirs = ((meta.get("provenance") or {}).get("derived_features") or {}).get("set")
    if meta.get("space") != space or theirs != derived:
        raise ValueError(f"params_from {scenario!r} is a {meta.get('space')} scenario with derived features {theirs!r}; "
                         f"this training is {space} with {derived!r}")
    return meta


def _recorded_tuning(meta: dict[str, Any], target) -> dict[str, Any]:
    """The tuning record of ``target``'s role in a scenario's meta.json (with its trial number)."""
    recorded = next((t for t in meta["quality"]["targets"].values() if t["role"] == target.role), None)
    if recorded is None or not (recorded.get("tuning") or {}).get("params"):
        raise ValueError(f"params_from {meta.get('name')!r} records no tuned parameters for role {target.role!r}")
    tuning = dict(recorded["tuning"])
    tuning.setdefault("trial", next((p["trial"] for p in tuning.get("pareto_front", [])  # older meta.json
                                     if p["cv_r2"] == tuning["cv_r2"]), -1))
    return {**tuning, "params_from": meta.get("name")}


def _shipped_front_trial(meta: dict[str, Any], target, tuning: dict[str, Any]) -> dict[str, Any] | None:
    """The tuning-front entry (with its parameters) of the trial that ``meta``'s scenario shipped for
    ``target``'s role, when that is not the tuned trial; None otherwise.

    Why: with ``params_from`` the front's models are gone, so a rebuild could only choose among the
    tuned trial's models and would lose a cheaper front trial the source had chosen (after ``--retune``).
    Rebuilding that one trial's five-fold models (its parameters are on the front) keeps it a candidate.
    """
    recorded = next((t for t in meta["quality"]["targets"].values() if t["role"] == target.role), {})
    trial = recorded.get("trial")
    if trial is None or trial == tuning.get("trial"):
        return None
    return next((p for p in tuning.get("pareto_front", []) if p["trial"] == trial and p.get("params")), None)


def _export(out: Path, space: str, name: str, family_id: str, models: list, provenance: dict[str, Any],
            quality: dict[str, Any], derived: str | None, X_test: np.ndarray) -> None:
    """Write the scenario into a staging folder beside ``out``, check its parity with LightGBM on the
    held-out rows (<= 1e-12, recorded in ``quality``), and swap it in."""
    from .export import export_cv_boosters, max_abs_error

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))  # same filesystem: rename
    try:
        folder = export_cv_boosters(staging, name=name, space=space, models=models,
                                    description=f"SMM-Bench-{space.upper()} surrogate trained on {family_id}",
                                    provenance=provenance, quality=quality, derived_features=derived)
        quality["export_max_abs_error"] = max_abs_error(folder, models, X_test)
        if quality["export_max_abs_error"] > 1e-12:
            raise RuntimeError(f"ONNX export differs from LightGBM by {quality['export_max_abs_error']:.3g} > 1e-12")
        meta_path = Path(folder) / "meta.json"  # the parity measured on the held-out rows goes on record
        meta = json.loads(meta_path.read_text())
        meta["quality"]["export_max_abs_error"] = quality["export_max_abs_error"]
        meta_path.write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n")
        _replace(out, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    """``out`` may be missing, empty, or a scenario folder (it is then replaced whole, report and
    figures included: rerun the report). Anything else is refused rather than deleted."""
    if out.exists() and any(out.iterdir()) and not (out / "meta.json").is_file():
        raise FileExistsError(f"{out} exists, is not empty and is not a scenario folder (no meta.json); "
                              "choose another --out")


def _replace(out: Path, staging: Path) -> None:
    """Swap the finished staging folder in: a failed or killed training leaves the old scenario whole."""
    _check_replaceable(out)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    staging.chmod(0o755)  # mkdtemp makes it private; a scenario folder is shared data
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="smm-bench train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--space", required=True, choices=("ps", "dfs"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ensemble", choices=ENSEMBLES, default="auto",
                    help="cv: mean of the 5 fold models (the paper); refit: one model, 5x cheaper per call; "
                         "auto: per target the cheapest candidate (cv, cv cut to fewer rounds, or refit, of the "
                         "tuned trial or a cheaper trial of the tuning front) as accurate as the tuned cv on the "
                         "held-out rows (smm_bench_surrogates.select); auto-cv: the same among 5-fold means only")
    ap.add_argument("--reference-out", default=None,
                    help="with --ensemble auto: also export the reference (the tuned cv of every target) here "
                         "when the rule chose another model, for the end-point comparison "
                         "(python -m smm_bench_surrogates.select --compare-endpoints)")
    ap.add_argument("--params-from", default=None,
                    help="use this trained scenario's tuned parameters instead of tuning (name or folder): rebuilds "
                         "its cv or refit in minutes, e.g. for the end-point comparison of the two")
    ap.add_argument("--ensemble-for", action="append", default=[], metavar="ROLE=KIND",
                    help=f"override --ensemble for one target role (ROLE in {', '.join(ROLES)}; repeatable), e.g. "
                         "objective=cv with --ensemble auto: the objective keeps the model the end-point check chose")
    ap.add_argument("--retune", default="", metavar="ROLE,...",
                    help="with --params-from: tune these roles afresh (their front's cheaper trials become "
                         "candidates of --ensemble auto); the others keep the recorded parameters")
    ap.add_argument("--until", default=None,
                    help="train on rows evaluated at or before this ISO date-time only (the provenance's "
                         "rows_until rebuilds a bundled model while collection goes on)")
    ap.add_argument("--derived", choices=DERIVED_CHOICES, default="auto",
                    help="derived features computed inside the graph (auto: the space's default set, "
                         "dfs-path-v2 on DFS, ps-mean-v1 on PS; none: the paper's raw features only)")
    a = ap.parse_args(argv)
    try:
        ensemble_for, retune = parse_ensemble_for(a.ensemble_for), check_retune(a.retune, a.params_from)
    except ValueError as e:
        ap.error(str(e))
    q = train_scenario(a.data, a.space, a.out, n_trials=a.trials, seed=a.seed, ensemble=a.ensemble,
                       derived=a.derived, until=a.until, reference_out=a.reference_out, params_from=a.params_from,
                       ensemble_for=ensemble_for, retune=retune)
    print(json.dumps({k: {m: v[m] for m in ("r2", "kendall_tau")} for k, v in q["targets"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
