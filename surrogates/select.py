"""Which model a scenario ships: held-out accuracy first, the cost of a call second.

    python -m smm_bench_surrogates.select --scenario smm_dfs_mini --data collection/data/mini_dfs
    python -m smm_bench_surrogates.select --compare-endpoints REFERENCE_FOLDER CANDIDATE_FOLDER

Why: a user of the benchmark pays for every tree of the shipped model on every call, load and
byte of memory, and gets nothing for trees that do not change what the surrogate says. Tuning
(``train.tune``) already records the accuracy-against-size front. The rule here picks, per
target, from models of that tuning, and is fixed before looking at any result:

1. **Reference**: the tuned trial's 5-fold CV mean (``cv``), the paper's procedure.
2. **Candidates**: the reference; the tuned trial refitted as one model on the whole training
   split (``refit``, a fifth of the trees); and every trial of the tuning front that visits fewer
   nodes per row than the tuned one, within ``CANDIDATE_BAND`` tolerances of its CV R², each as
   ``cv`` and as ``refit``. Each five-fold mean is also a candidate cut to the first
   ``TRUNCATIONS`` fractions of its rounds (``trial 35 cv@300``: every fold's first 300 trees):
   the same fold models boosted for fewer rounds, so still a mean of five, at a fraction of the
   trees.
3. **As accurate**: a candidate whose held-out R² minus the reference's has a 90% paired-bootstrap
   interval (:func:`~.train.paired_r2_difference`: the same held-out rows resampled for both)
   whose lower end is at least ``-tolerance`` (the target's ``R2_TOLERANCE``). That is a
   non-inferiority test: with 95% confidence the candidate loses less than the tolerance. A
   small held-out split gives wide intervals and so keeps the reference, rather than letting a
   worse model through on the split's luck (each candidate that truly loses more passes in at
   most about 5% of splits; with several candidates, somewhat more often one of them does).
4. **Ships**: among the candidates as accurate as the reference, the one with the fewest node
   visits per row (ties: fewer leaves, then the higher held-out R²). ``auto-cv`` (``train
   --ensemble-for objective=auto-cv``) applies steps 3 and 4 to the five-fold means only: the
   end-point check found that one refitted model lets long optimiser runs climb its own noise
   (docs/endpoints.md), which a mean of five damps.

Held-out quality is not the whole story: where optimisers END on a surrogate (the end-point
check, :mod:`.endpoints`) can change with the model even when R² does not. That check costs real
merges, so ``train`` never runs it; the final choice between the shipped model and the reference
is :func:`compare_endpoints` on the two folders' end-point records (``train --reference-out``
writes the reference beside the chosen model). See the module's ``FINAL_CHOICE``.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

INTERVAL = 0.90  # paired_r2_difference's interval
CANDIDATE_BAND = 4  # front trials at most this many tolerances below the tuned trial's CV R² are candidates
TRUNCATIONS = (1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8)  # fractions of a five-fold mean's rounds offered as candidates
FINAL_CHOICE = (
    "The final choice: train with --ensemble auto and --reference-out (or rebuild the other model of a trained "
    "scenario with --params-from, no tuning); run the end-point check "
    "(python -m smm_bench_surrogates.report --scenario FOLDER --endpoints-only) on both folders (the true "
    "evaluations are cached by configuration, so the second costs only its new end points); then "
    "python -m smm_bench_surrogates.select --compare-endpoints REFERENCE CHOSEN. Ship the chosen model if "
    "the comparison says it keeps the end-point quality (no optimiser's mean |gap| resolvably larger, the "
    "end-point goals met wherever the reference meets them, the optimisers' order kept), else the reference.")


@dataclass
class Candidate:
    """One model a target could ship: which tuning trial, which ensemble, the fitted ``CVBooster``."""

    trial: int
    ensemble: str  # "cv" | "refit"
    model: Any
    cv_r2: float
    reference: bool = False
    truncated: bool = False  # a five-fold mean cut to its first ``model.best_iteration`` rounds

    @property
    def name(self) -> str:
        return f"trial {self.trial} {self.ensemble}" + (f"@{int(self.model.best_iteration)}" if self.truncated else "")


def truncate(cvb, rounds: int):
    """``cvb``'s fold models cut to their first ``rounds`` boosting rounds, as a new ``CVBooster``:
    the same trees the same training would give with ``num_boost_round=rounds`` and no early stop."""
    import lightgbm as lgb

    if not 1 <= rounds <= int(cvb.best_iteration):
        raise ValueError(f"rounds must be from 1 to the ensemble's {int(cvb.best_iteration)}, got {rounds}")
    out = lgb.CVBooster()
    out.boosters = [lgb.Booster(model_str=b.model_to_string(num_iteration=rounds)) for b in cvb.boosters]
    out.best_iteration = rounds
    return out


def truncations(c: Candidate) -> list[Candidate]:
    """``c`` (a five-fold mean) cut to each of ``TRUNCATIONS`` of its rounds (distinct counts, at least one round)."""
    full = int(c.model.best_iteration)
    counts = sorted({max(1, round(full * f)) for f in TRUNCATIONS} - {full}, reverse=True)
    return [Candidate(c.trial, "cv", truncate(c.model, k), c.cv_r2, truncated=True) for k in counts]


def score(candidates: Sequence[Candidate], X: np.ndarray, y: np.ndarray, lower: float, upper: float,
          tolerance: float, seed: int = 0) -> list[dict[str, Any]]:
    """Each candidate's held-out R², tau, size and paired R² difference to the reference, and whether it
    is as accurate (rule step 3). Predictions are clipped to the target's range, as the graph does."""
    from .train import ensemble_size, held_out_quality, paired_r2_difference

    preds = {id(c): np.array(c.model.predict(X)).mean(0).clip(lower, upper) for c in candidates}
    ref = next(c for c in candidates if c.reference)
    out = []
    for c in candidates:
        q = held_out_quality(preds[id(c)], y)
        diff = paired_r2_difference(preds[id(c)], preds[id(ref)], y, seed=seed)
        lo = (diff.get("ci90") or [None])[0]
        out.append({"candidate": c.name, "trial": c.trial, "ensemble": c.ensemble, "reference": c.reference,
                    "rounds": int(c.model.best_iteration), "truncated": c.truncated, "cv_r2": c.cv_r2,
                    "r2": q["r2"], "kendall_tau": q["kendall_tau"], **ensemble_size(c.model),
                    "r2_minus_reference": diff,
                    "as_accurate": c.reference or (lo is not None and lo >= -tolerance)})
    return out


def choose(records: Sequence[dict[str, Any]], five_fold_only: bool = False) -> dict[str, Any]:
    """Rule step 4: the cheapest record that is as accurate as the reference (``five_fold_only``:
    among the five-fold means, ``auto-cv``)."""
    passing = [r for r in records if r["as_accurate"] and (not five_fold_only or r.get("ensemble") == "cv")]
    return min(passing, key=lambda r: (r["node_visits"], r["leaves"], -(r["r2"] if r["r2"] is not None else -np.inf)))


def rule_record(tolerance: dict[str, float], requested: str,
                requested_for: dict[str, str] | None = None) -> dict[str, Any]:
    """What ``quality.selection`` says about the rule itself (its results are per target);
    ``requested_for``: the roles whose kind was requested apart (``train --ensemble-for``)."""
    return {"rule": "cheapest candidate whose held-out R² minus the reference's (the tuned trial's 5-fold CV "
                    f"mean) has a {INTERVAL:.0%} paired-bootstrap interval above -tolerance",
            "interval": INTERVAL, "tolerance": dict(tolerance), "candidate_band": CANDIDATE_BAND,
            "truncations": list(TRUNCATIONS),
            "requested": requested, **({"requested_for": dict(requested_for)} if requested_for else {}),
            "final_choice": FINAL_CHOICE}


def front_candidates(tuning: dict[str, Any], front_models: dict[int, Any], tolerance: float) -> list[dict[str, Any]]:
    """Front trials cheaper than the tuned one and within ``CANDIDATE_BAND`` tolerances of its CV R²
    (rule step 2), cheapest first, each with its kept ``CVBooster`` (``model``)."""
    kept_visits, kept_r2 = tuning["node_visits"], tuning["cv_r2"]
    out = []
    for p in tuning["pareto_front"]:
        if (p["trial"] in front_models and p["node_visits"] < kept_visits
                and p["cv_r2"] >= kept_r2 - CANDIDATE_BAND * tolerance):
            out.append({**p, "model": front_models[p["trial"]]})
    return out


# --------------------------------------------------------------------- end-point comparison

def _endpoint_record(source: str | Path) -> dict[str, Any]:
    """An end-point record: a scenario folder's ``report.json`` key ``endpoints``, or a JSON file of one."""
    path = Path(source)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no report.json with an end-point record; run "
                                f"`python -m smm_bench_surrogates.report --scenario {source} --endpoints-only`")
    doc = json.loads(path.read_text())
    record = doc.get("endpoints", doc) if isinstance(doc, dict) else None
    if not isinstance(record, dict) or "by_budget" not in record:
        raise ValueError(f"{path}: holds no end-point record (key 'endpoints' with 'by_budget'); "
                         + ("it was skipped: " + record["skipped"] if isinstance(record, dict) and "skipped" in record
                            else "run the end-point check first"))
    return record


def compare_endpoints(reference: str | Path | dict[str, Any], candidate: str | Path | dict[str, Any],
                      seed: int = 0) -> dict[str, Any]:
    """Does ``candidate`` keep the end-point quality of ``reference``? From their cached check records.

    Per budget and optimiser (both records must hold the same ones): the mean |gap| (surrogate best
    minus its true value) of each, the candidate's minus the reference's with a bootstrap interval over
    seeds (:func:`~.endpoints._difference_interval`), the goals of each, and the mean true value each
    led the optimiser to. The candidate keeps the end-point quality when no |gap| difference is
    resolvably positive (interval above 0), it meets every end-point goal the reference meets, and
    its optimiser order agrees with the true one up to unresolved pairs wherever the reference's does.
    """
    from .endpoints import _difference_interval
    from .round_table import cells_summary

    a = reference if isinstance(reference, dict) else _endpoint_record(reference)
    b = candidate if isinstance(candidate, dict) else _endpoint_record(candidate)
    rows, problems = [], []
    for budget, ba in a["by_budget"].items():
        bb = b["by_budget"].get(budget)
        if bb is None:
            problems.append(f"budget {budget}: not in the candidate's record")
            continue
        for name, oa in ba["optimizers"].items():
            ob = bb["optimizers"].get(name)
            if ob is None:
                problems.append(f"budget {budget} {name}: not in the candidate's record")
                continue
            gap_a = np.abs(np.subtract(oa["surrogate"], oa["true"]))
            gap_b = np.abs(np.subtract(ob["surrogate"], ob["true"]))
            d, lo, hi = _difference_interval(gap_b, gap_a, seed=seed)
            t, tlo, thi = _difference_interval(ob["true"], oa["true"], seed=seed)
            goals_a, goals_b = oa["gap_ok"] and oa["clip_ok"], ob["gap_ok"] and ob["clip_ok"]
            by_seed = dict(zip(oa["seeds"], oa["surrogate"]))  # a seed's run, same model: same path, same best
            other = [s for s, v in zip(ob["seeds"], ob["surrogate"]) if by_seed.get(s) != v]
            row = {"budget": int(budget), "optimizer": name, "abs_gap_reference": float(gap_a.mean()),
                   "abs_gap_candidate": float(gap_b.mean()), "abs_gap_difference": d,
                   "abs_gap_interval": [lo, hi], "true_reference": oa["true_mean"], "true_candidate": ob["true_mean"],
                   "true_difference": t, "true_interval": [tlo, thi],
                   "goals_reference": goals_a, "goals_candidate": goals_b,
                   "runs": len(ob["seeds"]), "other_surrogate_best": other}
            if lo > 0:
                problems.append(f"budget {budget} {name}: mean |gap| larger by {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
            if goals_a and not goals_b:
                problems.append(f"budget {budget} {name}: misses an end-point goal that the reference meets")
            rows.append(row)
        if ba["order"]["agrees_up_to_ties"] and not bb["order"]["agrees_up_to_ties"]:
            problems.append(f"budget {budget}: the optimisers' order differs from the true one (the reference's agrees)")
    cells = [(str(r["budget"]), r["optimizer"]) for r in rows]
    runs = {"runs": sum(r["runs"] for r in rows),
            "other_surrogate_best": {f"{r['optimizer']}@{r['budget']}": r["other_surrogate_best"]
                                     for r in rows if r["other_surrogate_best"]}}
    return {"reference": a.get("scenario"), "candidate": b.get("scenario"),
            "reference_model": a.get("model"), "candidate_model": b.get("model"), "interval": INTERVAL,
            "rows": rows, "summary": {"reference": cells_summary(a, cells), "candidate": cells_summary(b, cells)},
            "runs": runs,
            "problems": problems, "candidate_keeps_endpoint_quality": not problems}


def render_endpoint_comparison(c: dict[str, Any]) -> str:
    lines = [f"End-point check, {c['candidate']} (candidate) against {c['reference']} (reference); mean |gap| = "
             "mean over seeds of |surrogate best - its true value|, differences candidate minus reference with "
             f"{c['interval']:.0%} bootstrap intervals over seeds:", "",
             "| budget | optimiser | mean abs gap: reference / candidate | difference (interval) | true value reached: "
             "reference / candidate | difference (interval) | goals met: reference / candidate |",
             "|---|---|---|---|---|---|---|"]
    for r in c["rows"]:
        lines.append(f"| {r['budget']:,} | {r['optimizer']} | {r['abs_gap_reference']:.3f} / {r['abs_gap_candidate']:.3f} "
                     f"| {r['abs_gap_difference']:+.3f} ({r['abs_gap_interval'][0]:+.3f} to {r['abs_gap_interval'][1]:+.3f}) "
                     f"| {r['true_reference']:.3f} / {r['true_candidate']:.3f} | {r['true_difference']:+.3f} "
                     f"({r['true_interval'][0]:+.3f} to {r['true_interval'][1]:+.3f}) | "
                     f"{'yes' if r['goals_reference'] else 'no'} / {'yes' if r['goals_candidate'] else 'no'} |")
    ref, cand = c["summary"]["reference"], c["summary"]["candidate"]

    def pair(key: str, fmt: str) -> str:
        return " / ".join("—" if x[key] is None else format(x[key], fmt) for x in (ref, cand))

    other = c["runs"]["other_surrogate_best"]
    n_other = sum(len(v) for v in other.values())
    lines += ["", f"Runs whose surrogate best differs between the two records: {n_other} of {c['runs']['runs']}"
              + (" (" + "; ".join(f"{cell} seeds {', '.join(map(str, seeds))}" for cell, seeds in other.items()) + ")"
                 if other and n_other < c["runs"]["runs"] else "")
              + ": the same objective model on another machine differs only where a run took another path "
              "(the BLAS kernel and the CPU can change a CMA-type run's path), two models nearly everywhere."]
    lines += ["", f"Over the {ref['cells']} cells, reference / candidate: mean gap {pair('mean_gap', '+.3f')}; cells "
              f"above the gap goal {pair('cells_over_goal', 'd')}; runs at the clip {pair('runs_at_clip', 'd')}; "
              f"fresh random objective R² {pair('fresh_random_r2', '.3f')}; held-out objective R² "
              f"{pair('held_out_r2', '.4f')}."]
    verdict = ("the candidate keeps the end-point quality: ship it" if c["candidate_keeps_endpoint_quality"] else
               "the candidate does NOT keep the end-point quality: ship the reference (" + "; ".join(c["problems"]) + ")")
    return "\n".join(lines + ["", f"Verdict: {verdict}."]) + "\n"


COST_RECORDS = "{scenario}-cost-*.json"  # in surrogates/rounds/: end-point checks of cheaper objective models


def cheaper_objective_checks(scenario: str, endpoints: dict[str, Any] | None,
                             rounds_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every recorded end-point check of a cheaper model of ``scenario``'s objective
    (``surrogates/rounds/<scenario>-cost-*.json``, made on the same seeds and cells) compared with
    the scenario's own check ``endpoints`` (its report.json's record) by :func:`compare_endpoints`:
    what a validity report shows beside the model it ships, so the cost it keeps is argued from
    numbers. Empty when the scenario has no check or no such record."""
    from .round_table import ROUNDS_DIR

    if not endpoints or "by_budget" not in endpoints:
        return []
    out = []
    for path in sorted((rounds_dir or ROUNDS_DIR).glob(COST_RECORDS.format(scenario=scenario))):
        record = json.loads(path.read_text())
        out.append({"record": path.name, "held_out": record.get("held_out") or {},
                    "rebuild": record.get("scenario_rebuild"), **compare_endpoints(endpoints, record)})
    return out


# ----------------------------------------------------------------- a scenario's candidates

def scenario_candidates(scenario: str | Path, data_dir: str | Path, trials: int = 0,
                        roles: Sequence[str] = ("objective", "test"), log=print) -> dict[str, Any]:
    """The rule applied to a trained scenario's own rows (``provenance.rows_until``) and split, per target role.

    With ``trials=0`` the candidates are the tuned trial's ``cv`` and ``refit`` (its parameters are in
    ``meta.json``); with ``trials > 0`` tuning runs again with the scenario's seed on the same rows (it
    is deterministic, so the same number of trials finds the same front) and the front's cheaper trials
    join. Nothing is exported: this says what ``train --ensemble auto`` would ship, and at what cost.
    """
    from smm_bench_plugin import load

    from .train import ACCURACY_COLUMNS, R2_TOLERANCE, cv_ensemble, learner_matrix, load_dataset, split, tune

    bench = load(scenario)
    meta = bench.meta
    prov, quality = meta["provenance"], meta["quality"]
    derived = (prov.get("derived_features") or {}).get("set")
    seed = quality["split"]["seed"]
    data = load_dataset(data_dir, meta["space"], prov.get("rows_until"))
    if prov.get("rows_sha256") and data.rows_sha256 != prov["rows_sha256"]:
        raise ValueError(f"{data_dir}: the rows until {prov.get('rows_until')} are not the scenario's rows "
                         "(id digest differs)")
    X = learner_matrix(data, derived)
    train, test = split(len(X), seed)
    out: dict[str, Any] = {"scenario": bench.name, "trials": trials, "targets": {}}
    for name, t in quality["targets"].items():
        if t["role"] not in roles:
            continue
        y = data.y[ACCURACY_COLUMNS[t["role"]]]
        tolerance = R2_TOLERANCE[t["role"]]
        log(f"{name}: {'tuning ' + str(trials) + ' trials' if trials else 'the tuned trial'} on {train.size} rows")
        if trials:
            tuned = tune(X[train], y[train], data.n_cat, trials, seed, tolerance)
            reference, fronts = tuned.pop("cvbooster"), tuned.pop("front_models")
        else:
            tuned = t["tuning"]
            reference, _, _ = cv_ensemble(X[train], y[train], tuned["params"], data.n_cat, seed)
            fronts = {}  # no models of the other trials: only the tuned trial's cv and refit
        trial = tuned.get("trial", next((p["trial"] for p in tuned["pareto_front"]  # older meta.json: no "trial"
                                         if p["cv_r2"] == tuned["cv_r2"]), -1))
        cands = candidates_of(X[train], y[train], data.n_cat, trial, tuned, reference, fronts, tolerance)
        records = score(cands, X[test], y[test], 0.0, 1.0, tolerance, seed)
        out["targets"][name] = {"role": t["role"], "tolerance": tolerance, "candidates": records,
                                "chosen": choose(records)["candidate"],
                                "recorded_cv_r2": t["tuning"]["cv_r2"], "cv_r2": tuned["cv_r2"]}
    return out


def candidates_of(X: np.ndarray, y: np.ndarray, n_cat: int, trial: int, tuning: dict[str, Any], reference,
                  front_models: dict[int, Any], tolerance: float) -> list[Candidate]:
    """Rule step 2's candidates for one target, refits trained here (rows ``X``, ``y``: the training split);
    the reference first, its refit second."""
    from .train import refit_ensemble

    def refit(params: dict[str, Any], model) -> Any:
        return refit_ensemble(X, y, params, n_cat, int(model.best_iteration))

    ref = Candidate(trial, "cv", reference, tuning["cv_r2"], reference=True)
    out = [ref, Candidate(trial, "refit", refit(tuning["params"], reference), tuning["cv_r2"]), *truncations(ref)]
    for p in front_candidates(tuning, front_models, tolerance):
        mean = Candidate(p["trial"], "cv", p["model"], p["cv_r2"])
        out += [mean, Candidate(p["trial"], "refit", refit(p["params"], p["model"]), p["cv_r2"]), *truncations(mean)]
    return out


def render_candidates(result: dict[str, Any]) -> str:
    lines = []
    for name, t in result["targets"].items():
        lines += ["", f"{result['scenario']} {name} ({t['role']}, tolerance {t['tolerance']}): ships **{t['chosen']}**", "",
                  "| candidate | CV R² | held-out R² | tau | trees | leaves | node visits | R² minus reference (90% "
                  "interval) | as accurate |", "|---|---|---|---|---|---|---|---|---|"]
        for r in t["candidates"]:
            d = r["r2_minus_reference"]
            ci = "—" if not d.get("ci90") else f"{d['point']:+.4f} ({d['ci90'][0]:+.4f} to {d['ci90'][1]:+.4f})"
            lines.append(f"| {r['candidate']}{' (reference)' if r['reference'] else ''} | {r['cv_r2']:.4f} | "
                         f"{r['r2']:.4f} | {r['kendall_tau']:.4f} | {r['trees']:,} | {r['leaves']:,} | "
                         f"{r['node_visits']:,.0f} | {ci} | {'yes' if r['as_accurate'] else 'no'} |")
    return "\n".join(lines).strip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smm_bench_surrogates.select", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", help="a trained scenario (name or folder): its candidates under the rule")
    ap.add_argument("--data", help="the collection folder the scenario was trained on (with --scenario)")
    ap.add_argument("--trials", type=int, default=0,
                    help="tune again with this many trials (same seed and rows) so that the front's trials join; "
                         "0: the tuned trial's cv and refit only")
    ap.add_argument("--roles", default="objective,test", help="target roles to look at (comma-separated)")
    ap.add_argument("--json", default=None, help="also write the result here")
    ap.add_argument("--compare-endpoints", nargs=2, metavar=("REFERENCE", "CANDIDATE"),
                    help="two scenario folders (or JSON files) with end-point check records")
    a = ap.parse_args(argv)
    if a.compare_endpoints:
        result = compare_endpoints(*a.compare_endpoints)
        print(render_endpoint_comparison(result), end="")
    elif a.scenario and a.data:
        result = scenario_candidates(a.scenario, a.data, a.trials, tuple(r for r in a.roles.split(",") if r))
        print(render_candidates(result), end="")
    else:
        ap.error("give --scenario with --data, or --compare-endpoints REFERENCE CANDIDATE")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
