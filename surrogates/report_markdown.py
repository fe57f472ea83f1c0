"""REPORT.md, written from ``report.json``: the numbers on record, never recomputed here.

The number formats (:func:`fmt`, :func:`interval_cell`) and the wording of a tuning front
(:func:`front_phrases`) are shared with the table of docs/scenarios.md (:mod:`.summary`), so the
report and the docs never write the same figure two ways.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from smm_bench_collection.samplers import sampler_label

from .endpoints import render_lines as endpoint_lines
from .report_studies import AIMS, FIGURE1_SAMPLERS
from .train import ACCURACY_COLUMNS, MIN_GROUP_ROWS
from .training_record import exported_size, is_chosen, tuned_targets

RANKING_LABELS = {"surrogate": "surrogate", "surrogate_unseen_seeds": "surrogate with seeds never collected",
                  "random_only_surrogate": "random-only surrogate"}


def fmt(v: Any, digits: int = 3) -> str:
    """A figure of the report or the docs: fixed digits, "—" where the record has none."""
    return "—" if v is None else f"{v:.{digits}f}"


def interval_cell(d: dict[str, Any] | None) -> str:
    """A paired difference and its 90% interval ("+0.0012 (-0.0030 to +0.0051)"); "—" without an interval."""
    if not d or d.get("point") is None or not d.get("ci90"):
        return "—"
    return f"{d['point']:+.4f} ({d['ci90'][0]:+.4f} to {d['ci90'][1]:+.4f})"


def _times(a: float, b: float) -> str:
    """' (3.6x the kept one)' or ' (12.0x fewer than the kept one)'; nothing beside a zero (a constant model
    visits no node)."""
    if a <= 0 or b <= 0:
        return ""
    return f" ({a / b:.1f}x the kept one)" if a >= b else f" ({b / a:.1f}x fewer than the kept one)"


def front_phrases(tuning: dict[str, Any]) -> tuple[str, str]:
    """Where the kept trial sits on its tuning front: beside the most accurate trial, and beside the cheapest.

    One wording for the report and the key figures of docs/scenarios.md, so the two never describe the same
    front differently.
    """
    front = tuning["pareto_front"]
    best, cheapest = max(front, key=lambda p: p["cv_r2"]), front[0]
    accurate = ("it is the most accurate trial" if is_chosen(best, tuning) else
                f"the most accurate trial (CV R² {fmt(best['cv_r2'])}) needs {best['node_visits']:,.0f} visits"
                f"{_times(best['node_visits'], tuning['node_visits'])} and {best['leaves']:,} leaves"
                f"{_times(best['leaves'], tuning['leaves'])}")
    cheap = ("it is also the cheapest on the front" if is_chosen(cheapest, tuning) else
             f"the cheapest on the front needs {cheapest['node_visits']:,.0f} visits"
             f"{_times(cheapest['node_visits'], tuning['node_visits'])} at CV R² {fmt(cheapest['cv_r2'])}")
    return accurate, cheap


def _fewer_cell(objective: dict[str, Any]) -> str:
    f = objective.get("one_run_fewer")
    return "—" if not f else f"{fmt(f['r2'])} / {fmt(f['kendall_tau'])} ({f['dropped']})"


def _new_runs_lines(r: dict[str, Any]) -> list[str]:
    """The leave-one-run-out table, beside the 9:1 split's quality within the same samplers' rows."""
    loro = r.get("leave_one_run_out")
    if not loro:
        return []
    lines = ["", "## New optimiser runs: leave one run out", ""]
    if loro["runs"]:
        lines += ["![new runs](new_runs.png)", ""]
    lines.append("The 9:1 split scores rows whose neighbours on the same optimiser trajectory are in the training "
                 "rows; an optimiser a user runs makes a new trajectory. Here each run of "
                 + ", ".join(loro["samplers"]) + " (one store folder) is held out whole, and the scenario's tuned "
                 "parameters (5-fold CV ensemble, not re-tuned) are trained on every other row of the scenario's data "
                 "(the parameters were tuned on a split that contains the held-out run, so these figures lean "
                 "slightly optimistic). The top-10% and best columns say whether the surrogate under- or over-estimates the good region "
                 "the run reached: an optimiser on the surrogate finds only what the surrogate believes is there. "
                 "The column 'one run fewer' trains without one more run of the same sampler: where it is below "
                 "the full column, another run of that optimiser would still improve the surrogate where "
                 "optimisers go.")
    if loro["runs"]:
        lines += ["", "| held-out run | rows (trained on) | objective R² (ceiling) / tau | test R² (ceiling) / tau | "
                  "top 10% of the run: true / surrogate objective | run's best: true / surrogate objective | "
                  "one run fewer: objective R² / tau (run left out) |", "|---|---|---|---|---|---|---|"]
        for name, run in loro["runs"].items():
            cells = []
            for role in ("objective", "test"):
                q = run["targets"].get(role)
                cells.append("—" if not q else f"{fmt(q['r2'])} ({fmt(q.get('noise_ceiling_r2'))}) / {fmt(q['kendall_tau'])}")
            o = run["targets"].get("objective", {})
            lines.append(f"| {name} | {run['rows']:,} ({run['train_rows']:,}) | " + " | ".join(cells) + " | "
                         f"{fmt(o.get('top_decile_true'))} / {fmt(o.get('top_decile_predicted'))} | "
                         f"{fmt(o.get('best_true'))} / {fmt(o.get('predicted_at_best'))} | " + _fewer_cell(o) + " |")
        objective = next((t for t in r["quality"].get("targets", {}).values() if t["role"] == "objective"), {})
        split_r2 = {s: g["r2"] for s, g in (objective.get("by_sampler") or {}).items()
                    if s in loro["samplers"] and g.get("r2") is not None}
        if split_r2:
            lines += ["", "For comparison, the 9:1 split's held-out rows of the same samplers (the exported model): "
                      "objective R² " + ", ".join(f"{s} {fmt(v)}" for s, v in split_r2.items()) + "."]
    if loro["skipped"]:
        lines += ["", f"Not held out (fewer than {loro['min_rows']} rows so far): "
                  + ", ".join(f"{k} ({v} rows)" for k, v in loro["skipped"].items()) + "."]
    return lines


def _tuning_front_lines(quality: dict[str, Any]) -> list[str]:
    """The accuracy-vs-size trade-off that tuning found, per target, and where the kept model sits on it."""
    tuned = tuned_targets(quality)
    if not tuned:
        return []
    lines = ["", "## Tuning: accuracy against size (Pareto front)", "", "![tuning front](tuning_front.png)", "",
             "Optuna tuned each target on two objectives: the 5-fold CV R² (higher is better) and the node visits "
             "per prediction row, the cost of one prediction in onnxruntime's tree walk (lower is better); leaves "
             "measure the file size. `train` keeps the cheapest trial within the tolerance of the best CV R² "
             "(marked ★). The front below is every trial that no other trial beat on both.", ""]
    for name, tu in tuned.items():
        kept = f"- {name}: kept CV R² {fmt(tu['cv_r2'])} at {tu['node_visits']:,.0f} node visits and {tu['leaves']:,} leaves"
        accurate, cheap = front_phrases(tu)
        lines.append(f"{kept}; {accurate}; {cheap} (tolerance {tu['r2_tolerance']}, {tu['n_trials']} trials).")
    lines += ["", "| target | trial | CV R² | trees | leaves | node visits per row | kept |", "|---|---|---|---|---|---|---|"]
    for name, tu in tuned.items():
        for p in tu["pareto_front"]:
            lines.append(f"| {name} | {p['trial']} | {fmt(p['cv_r2'])} | {p['trees']:,} | {p['leaves']:,} | "
                         f"{p['node_visits']:,.0f} | {'★' if is_chosen(p, tu) else ''} |")
    return lines


def _learning_curve_lines(curve: dict[str, Any] | None) -> list[str]:
    if not curve:
        return []
    roles = list(curve["targets"])
    raw = curve.get("raw_features") or {}
    derived = curve.get("derived_features")
    lines = ["", "## Learning curve: would more data help?", "", "![learning curve](learning_curve.png)", "",
             f"The scenario's tuned LightGBM parameters (not re-tuned per size), 5-fold CV ensemble, trained on "
             f"nested shares of the training split of the dataset as it is now ({curve['dataset_rows']:,} rows), "
             f"scored on the same {curve['held_out_rows']:,} held-out rows. A curve still rising at the right "
             "says that more rows would still help."
             + (f" The scenario uses the derived features `{derived}`; the 'raw' columns are the same parameters "
                "on the raw columns alone (the paper's features), which measures what the derived ones buy."
                if raw else ""), ""]
    columns = [(r, curve["targets"][r], f"{r} R² / tau") for r in roles]
    columns += [(r, raw[r], f"{r} R² / tau, raw features") for r in roles if r in raw]  # same rows, same split
    lines += ["| training rows | " + " | ".join(h for _, _, h in columns) + " |", "|---|" + "---|" * len(columns)]
    for i, n in enumerate(p["rows"] for p in curve["targets"][roles[0]]["points"]):
        lines.append(f"| {n:,} | " + " | ".join(
            f"{fmt(t['points'][i]['r2'])} / {fmt(t['points'][i]['kendall_tau'])}" for _, t, _ in columns) + " |")
    lines.append("| noise ceiling | " + " | ".join(fmt(t.get("noise_ceiling_r2")) for _, t, _ in columns) + " |")
    return lines


def _ensemble_rule_lines(rule: dict[str, Any] | None) -> list[str]:
    """The refit rule's verdict with the paired-bootstrap intervals of refit minus cv (how close the call was).

    Scenarios trained before the selection rule (:mod:`.select`) carry this record; newer ones
    carry ``quality.selection`` (:func:`_selection_lines`)."""
    if not rule:
        return []
    diffs = rule.get("refit_minus_cv_r2") or {}
    cells = [f"{name} {fmt(d.get('point'))} (90% interval {fmt(d['ci90'][0])} to {fmt(d['ci90'][1])})"
             for name, d in diffs.items() if d.get("ci90")]
    from .select import INTERVAL

    verdicts = [f"{name} {'refit' if d['ci90'][0] >= -rule['tolerance'] else 'cv'} (lower end {d['ci90'][0]:+.4f})"
                for name, d in diffs.items() if d.get("ci90")]
    return ["", f"Rule (`--ensemble auto`): refit only if its held-out R² is within {rule.get('tolerance')} of cv on "
            f"both accuracy targets; here it picks **{rule.get('chosen')}** (requested: {rule.get('requested')}). "
            "Refit minus cv, held-out R², with a paired bootstrap over the held-out rows: " + "; ".join(cells) + ".",
            "", "This model was trained before the selection rule (`smm_bench_surrogates.select`) replaced that rule: "
            f"per target, a cheaper model ships only if the lower end of its {INTERVAL:.0%} interval is at least "
            f"-{rule.get('tolerance')}. Between these two it would ship: " + "; ".join(verdicts) + " (a retrain also "
            "scores the cheaper trials of the tuning front, whose models this training did not keep)."]


def _fraction(f: float) -> str:
    """1/2, 1/3, ... for a rule's truncation fractions (they are unit fractions)."""
    return f"1/{round(1 / f)}" if f > 0 and abs(1 / f - round(1 / f)) < 1e-9 else f"{f:g}"


def _selection_lines(quality: dict[str, Any], provenance: dict[str, Any] | None = None) -> list[str]:
    """Accuracy against cost: every candidate of the selection rule (:mod:`.select`) and which one ships."""
    sel = quality.get("selection")
    targets = {n: t for n, t in quality.get("targets", {}).items() if t.get("candidates")}
    if not sel or not targets:
        return []
    tol = ", ".join(f"{role} {v}" for role, v in sel["tolerance"].items())
    prov = provenance or {}
    requested = sel["requested"]
    applied = ("the rule below chose it" if requested == "auto" else
               "the rule was not applied; it would ship " + ", ".join(
                   f"{n}: {c}" for n, c in (sel.get("rule_would_ship") or {}).items()))
    lines = ["", "## Accuracy against cost: which model ships", "",
             f"Exported: **{prov.get('ensemble', '?')}** ({prov.get('procedure', '')}); requested: {requested}, "
             f"{applied}.", "",
             "Rule (`smm_bench_surrogates.select`): the reference is the tuned trial's "
             "5-fold CV mean (the paper's procedure); the candidates are its refit and the trials of the tuning front "
             f"that visit fewer nodes per row (within {sel['candidate_band']} tolerances of its CV R²), each as CV mean "
             "and as refit" + (", every CV mean also cut to " + ", ".join(_fraction(f) for f in sel["truncations"])
                              + " of its rounds (`cv@N`: each fold's first N trees)" if sel.get("truncations") else "")
             + ". A candidate is as accurate as the reference when the "
             f"{sel['interval']:.0%} paired-bootstrap interval of its held-out R² minus the reference's lies above "
             f"-tolerance ({tol}); of those, the one with the fewest node visits per row ships (node visits: the "
             "tree walk a call pays; `python -m bench` measures the call in µs). " + sel["final_choice"], ""]
    for name, t in targets.items():
        chosen = exported_size(t)
        ref = next(r for r in t["candidates"] if r["reference"])
        lines.append(f"- {name} ({t['role']}): ships **{chosen['candidate']}**, {chosen['trees']:,} trees, "
                     f"{chosen['node_visits']:,.0f} node visits per row, held-out R² {fmt(chosen['r2'])} "
                     + ("(it is the reference)" if chosen["reference"] else
                        f"against the reference's {fmt(ref['r2'])} at {ref['node_visits']:,.0f} visits "
                        f"({ref['node_visits'] / max(chosen['node_visits'], 1e-9):.1f}x); difference "
                        f"{interval_cell(chosen['r2_minus_reference'])}") + ".")
    lines += ["", "| target | candidate | CV R² | held-out R² | tau | trees | leaves | node visits per row | "
              "R² minus reference (90% interval) | as accurate | ships |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in targets.items():
        for r in sorted(t["candidates"], key=lambda r: r["node_visits"]):
            lines.append(f"| {name} | {r['candidate']}{' (reference)' if r['reference'] else ''} | {fmt(r['cv_r2'])} | "
                         f"{fmt(r['r2'])} | {fmt(r['kendall_tau'])} | {r['trees']:,} | {r['leaves']:,} | "
                         f"{r['node_visits']:,.0f} | {interval_cell(r['r2_minus_reference'])} | "
                         f"{'yes' if r['as_accurate'] else 'no'} | {'★' if r['candidate'] == t['candidate'] else ''} |")
    return lines


def _cheaper_objective_lines(checks: list[dict[str, Any]] | None, quality: dict[str, Any]) -> list[str]:
    """Why the objective model that ships costs what it does: the recorded end-point checks of cheaper
    models of it (:func:`smm_bench_surrogates.select.cheaper_objective_checks`), beside its own."""
    if not checks:
        return []
    shipped = next((t for t in quality.get("targets", {}).values() if t.get("role") == "objective"), {})
    size = exported_size(shipped) if shipped else {}
    ref = checks[0]["summary"]["reference"]

    def row(name: str, visits: Any, s: dict[str, Any], verdict: str) -> str:
        return (f"| {name} | {'—' if visits is None else f'{visits:,.0f}'} | {fmt(s['held_out_r2'], 4)} | "
                f"{'—' if s['mean_gap'] is None else format(s['mean_gap'], '+.3f')} | {fmt(s['cells_over_goal'], 0)} | "
                f"{fmt(s['fresh_random_r2'])} | {verdict} |")

    lines = ["", "### Cheaper objective models, checked at the end points", "",
             "Each record `surrogates/rounds/<scenario>-cost-*.json` is the end-point check of a cheaper model of "
             "this objective on the same seeds and cells (its rebuild command is in the record); `python -m "
             "smm_bench_surrogates.select --compare-endpoints <this scenario> <record>` compares it with the check "
             "above. A cheaper model ships only if it keeps the end-point quality (no optimiser's mean |gap| "
             "resolvably larger, every end-point goal the shipped model meets still met, the optimisers' order kept):",
             "", "| model | node visits per row | held-out R² | mean gap over the cells | cells above the gap goal | "
             "fresh random R² | keeps the end-point quality |", "|---|---|---|---|---|---|---|",
             row(f"{shipped.get('candidate', 'shipped')} (ships)", size.get("node_visits"), ref, "—")]
    for c in checks:
        held = c["held_out"]
        verdict = "yes" if c["candidate_keeps_endpoint_quality"] else "no: " + "; ".join(c["problems"]).replace("|", "\\|")
        lines.append(row(f"{held.get('candidate', '?')} (`{c['record']}`)", held.get("node_visits"),
                         c["summary"]["candidate"], verdict))
    return lines


def _by_sampler_table(targets: dict[str, Any]) -> list[str]:
    """Held-out R² / tau within each sampler's rows, for the accuracy targets (from ``train``)."""
    shown = {n: t["by_sampler"] for n, t in targets.items() if t.get("by_sampler") and t["role"] in ACCURACY_COLUMNS}
    if not shown:
        return []
    samplers = sorted({s for groups in shown.values() for s in groups})
    lines = ["", "Held-out quality within each sampler's rows (the exported model; R² against the group's own "
             f"mean, so it measures fit inside the group, with the group's noise ceiling in brackets; "
             f"'—' below {MIN_GROUP_ROWS} rows or when all values tie):", "",
             "| sampler | held-out rows | " + " | ".join(f"{n} R² (ceiling) / tau" for n in shown) + " |",
             "|---|---|" + "---|" * len(shown)]
    for s in samplers:
        cells = []
        for groups in shown.values():
            g = groups.get(s, {})
            ceiling = "" if g.get("noise_ceiling_r2") is None else f" ({fmt(g['noise_ceiling_r2'])})"
            cells.append("—" if g.get("r2") is None else f"{fmt(g['r2'])}{ceiling} / {fmt(g.get('kendall_tau'))}")
        n = max(groups.get(s, {}).get("n", 0) for groups in shown.values())
        lines.append(f"| {s} | {n} | " + " | ".join(cells) + " |")
    return lines


def _data_check_sentence(r: dict[str, Any]) -> str:
    """Whether the report's data sections read the model's own rows."""
    check = r.get("data_check")
    if not check:
        return ""
    until = f" (rows evaluated until {r['rows_until']})" if r.get("rows_until") else ""
    if check.get("same_rows") is True:
        return f" The data sections below read exactly the model's rows{until}: same ids (sha256)."
    if check.get("same_rows") is False:
        return (f" **The data sections below read {check['rows']} rows{until} that differ from the model's "
                f"{check['model_rows']} rows (id digest differs): rows were dropped or rewritten since training.**")
    same = "the same count" if check.get("same_count") else f"{check['rows']} rows, the model {check['model_rows']}"
    return f" The data sections below read every row there is now ({same}; this model records no row digest)."


def render_markdown(r: dict[str, Any]) -> str:
    q, paper = r["quality"], r["paper_table_1"] or {}
    prov = r.get("provenance") or {}
    lines = [f"# Validity report: {r['scenario']}", "",
             f"Regenerate: `{r['command']}` ({r['seconds']:.0f} s)"
             + (f"; the model itself: `{r['train_command']}`." if r.get("train_command") else "."), "",
             f"Trained on {prov.get('rows', '?')} true evaluations of family `{prov.get('family_id', '?')}` "
             f"(samplers: {', '.join(f'{k} {v}' for k, v in (prov.get('samplers') or {}).items())}); "
             f"held-out split: {q.get('split', {}).get('test', '?')} rows." + _data_check_sentence(r), "",
             "## Held-out quality (Table 1 analog)", "",
             "| target | role | R² | noise ceiling R² | Kendall tau | noise ceiling tau | paper R² / tau (7B) | aim R² / tau | trees / leaves / node visits per row |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, t in q.get("targets", {}).items():
        p = paper.get(t["role"]) if paper else None
        aim = AIMS.get(t["role"])
        size = exported_size(t)
        lines.append(f"| {name} | {t['role']} | {fmt(t['r2'])} | {fmt(t.get('noise_ceiling_r2'))} | {fmt(t['kendall_tau'])} | "
                     f"{fmt(t.get('noise_ceiling_tau'))} | "
                     f"{'—' if not p else f'{p[0]:.3f} / {p[1]:.3f}'} | {'—' if not aim else f'{aim[0]:.2f} / {aim[1]:.2f}'} | "
                     f"{size.get('trees', '?')} / {size.get('leaves', '?')} / {size.get('node_visits', float('nan')):.0f} |")
    if any(t.get("noise_ceiling_r2") is not None for t in q.get("targets", {}).values()):
        lines += ["", "Noise ceiling: each accuracy is the mean of a fixed number of right/wrong answers "
                  "(the store's `objective_n_items` / `test_n_items`), so it differs from the configuration's "
                  "accuracy over the whole item population by binomial sampling noise. The ceiling is the R² that "
                  "population accuracy would get on these held-out rows (`smm_bench_surrogates.train."
                  "noise_ceiling_r2`): a surrogate near it has learnt what the benchmark is meant to measure. It "
                  "is not a hard bound (the items are fixed, so neighbouring configurations share part of the "
                  "noise, and a surrogate can learn it). The tau ceiling is simulated under the same noise model "
                  "(`noise_ceiling_tau`) and errs high, most where accuracies pile up near 0: an aim above it is "
                  "out of reach."]
    compared = {n: t for n, t in q.get("targets", {}).items() if t.get("ensembles")}
    if compared and not q.get("selection"):  # scenarios trained before the selection rule
        lines += ["", f"Exported: **{prov.get('ensemble', 'cv')}** ({prov.get('procedure', '')}). Both ensembles "
                  "of the same tuned parameters, scored on the same held-out rows:", "",
                  "| target | cv mean of 5 folds: R² / tau / trees | refit, one model: R² / tau / trees |", "|---|---|---|"]
        for name, t in compared.items():
            e = t["ensembles"]
            lines.append(f"| {name} | " + " | ".join(
                f"{fmt(e[k]['r2'])} / {fmt(e[k]['kendall_tau'])} / {e[k]['trees']}" for k in ("cv", "refit")) + " |")
        lines += _ensemble_rule_lines(q.get("ensemble_rule"))
    lines += _selection_lines(q, prov)
    lines += _by_sampler_table(q.get("targets", {}))
    lines += endpoint_lines(r.get("endpoints"))
    lines += _cheaper_objective_lines(r.get("cheaper_objectives"), q)
    lines += _tuning_front_lines(q)
    f1 = r["figure1"]
    lines += ["", "## Figure 1 analog: true function vs surrogate", "", "![figure 1](figure1.png)", "",
              f"Best-so-far objective over {r['budget']} evaluations, seeds {r['seeds']} (mean, min–max band). "
              "True runs available: " + ", ".join(f"{sampler_label(s)} {len(v)}/{len(r['seeds'])}" for s, v in f1["true_runs"].items())
              + "." + (f" Uniform random's true runs are consecutive blocks of {r['budget']} rows of the seed-0 random "
                       "store in collection order (independent draws, so each block is a random-search run of its own)."
                       if "random" in f1["true_runs"] else "")
              + (f" {sampler_label('tpe')} is the collection's TPE (Optuna 3/4's defaults), not the multivariate "
                 "tpe of `smm-bench compare`." if "tpe" in f1["true_runs"] else "")
              + (f" The surrogate also ran with seeds {f1['unseen_seeds']}, which no true run used: with the "
                       "true runs' seeds an optimiser's first asks are training rows." if f1.get("unseen_seeds") else "")
              + (f" The surrogate's CMA-family runs drew through numpy's BLAS {r['blas']}: on another kernel the "
                 "same seeds walk other trajectories of the same search (smm_bench_plugin/blas.py)."
                 if r.get("blas") else ""),
              "", "| optimiser | true final best | surrogate final best | surrogate, seeds never collected | "
              "random-only surrogate |", "|---|---|---|---|---|"]
    for s in FIGURE1_SAMPLERS[r["space"]]:
        cells = []
        for kind in ("true", "surrogate", "surrogate_unseen_seeds", "random_only"):
            vals = list(f1["final_best"].get(kind, {}).get(s, {}).values())
            cells.append(f"{np.mean(vals):.3f} ± {np.std(vals):.3f}" if vals else "not collected yet")
        lines.append(f"| {sampler_label(s)} | " + " | ".join(cells) + " |")
    ro = f1["random_only_quality"]
    lines += ["", "Ranking by mean final best: true " + " > ".join(sampler_label(n) for n, _ in f1["rankings"]["true"])
              + "; surrogate " + " > ".join(sampler_label(n) for n, _ in f1["rankings"]["surrogate"])
              + "".join("; surrogate with seeds never collected " + " > ".join(sampler_label(n) for n, _ in v)
                        for k, v in f1["rankings"].items() if k == "surrogate_unseen_seeds")
              + "; random-only surrogate " + " > ".join(sampler_label(n) for n, _ in f1["rankings"]["random_only_surrogate"]) + ".",
              ("Same ranking as on the true function (over the optimisers with all true seeds: "
               + ", ".join(map(sampler_label, f1["complete_on_true"])) + "): "
               + ", ".join(f"{RANKING_LABELS.get(k, k)} {'yes' if v else 'NO'}"
                           for k, v in f1["same_ranking_as_true"].items()) + "."
               if len(f1["complete_on_true"]) >= 2 else
               "Ranking agreement: not assessable yet (fewer than two optimisers have all their true runs; "
               "the collection plan is still running)."),
              "", "Random-only surrogate, held-out: " + "; ".join(
                  f"{k} R² {fmt(v['r2'])}, tau {fmt(v['kendall_tau'])} (n={v['n']})" for k, v in ro.items()) + "."]
    refs = r.get("reference_points") or {}
    if refs.get("points"):
        lines += ["", "## Reference configurations: true vs surrogate", "",
                  "Evaluated for real (the mini family, the same judge as the dataset) and by this surrogate:", "",
                  "| configuration | true objective | surrogate objective | true test | surrogate test |",
                  "|---|---|---|---|---|"]
        for name, p in refs["points"].items():
            lines.append(f"| {name} | {p['true_objective']:.3f} | {p['surrogate_objective']:.3f} | "
                         f"{p['true_test']:.3f} | {p['surrogate_test']:.3f} |")
    elif refs.get("skipped"):
        lines += ["", f"Reference configurations: skipped ({refs['skipped']})."]
    lines += _learning_curve_lines(r.get("learning_curve"))
    lines += _new_runs_lines(r)
    if r.get("figure2"):
        lines += ["", "## Figure 2 analog: Sep-CMA-ES vs SciPy DE (population 64)", "", "![figure 2](figure2.png)", ""]
        for name, s in r["figure2"]["optimizers"].items():
            lines.append(f"- {name}: best objective {s['best_objective_mean']:.4f} ± {s['best_objective_std']:.4f}, "
                         f"test at best {s['test_at_best_mean']:.4f} ± {s['test_at_best_std']:.4f} "
                         f"({s['runs']} runs of {r['figure2']['budget']} evaluations)")
        lines += _true_at_best_lines(r["figure2"].get("true_at_best"))
    return "\n".join(lines) + "\n"


def _true_at_best_lines(true_at_best: dict[str, Any] | None) -> list[str]:
    if not true_at_best:
        return []
    if true_at_best.get("skipped"):
        return ["", f"Real evaluation of each run's best configuration: skipped ({true_at_best['skipped']})."]
    lines = ["", "Each run's best configuration on the surrogate, evaluated for real (the dataset's family: a real "
             "merge and the same judge):", "",
             "| optimiser | seed | surrogate objective | true objective | surrogate test | true test |",
             "|---|---|---|---|---|---|"]
    for name, per_seed in true_at_best.items():
        for seed, p in per_seed.items():
            lines.append(f"| {name} | {seed} | {p['surrogate_objective']:.3f} | {p['true_objective']:.3f} | "
                         f"{p['surrogate_test']:.3f} | {p['true_test']:.3f} |")
    lines += ["", "Where the surrogate's value is above the true one, the run ended where the surrogate is "
              "optimistic; the true objective says whether what it found is a good merge all the same."]
    return lines
