"""Validity where optimisers end: each optimiser's best on the surrogate, evaluated for real.

    python -m smm_bench_surrogates.report --scenario smm_ps_mini --endpoints-only
    python -m smm_bench_surrogates.endpoints CANDIDATE_FOLDER --out record.json   # any scenario folder

A user of a surrogate benchmark reads one number per optimiser: the best value its run found.
A long run on a surrogate ends where the surrogate is most optimistic, often where it has seen
no data, so a random held-out split (rows the optimisers never chose) says little about that
number. This check runs every ``smm-bench compare`` optimiser the space can host (on DFS the
relaxed CMA-ES and Sep-CMA-ES too, whose trajectories no collection run covers) on the scenario at
two budgets with seeds that no training row came from, evaluates each run's best configuration
with a real merge of the dataset's family, and reports per optimiser:

* the surrogate's best, the true value of that configuration, and the gap (surrogate minus
  true) with a bootstrap interval over seeds;
* runs that ended at the output clip (1.0) and what they score for real;
* whether the optimisers' order by surrogate best equals their order by true value (a pair
  whose true means are not resolved by their bootstrap interval may swap);
* R² and Kendall tau of the surrogate on fresh uniform random configurations, a population
  the optimisers start from and the data never saw (the held-out split mixes it with
  optimiser rows).

True evaluations are cached in result stores under ``collection/data/checks/`` (never read by
training: the training reads ``collection/data/mini_<space>/*``), and each surrogate run is
cached per model digest (``smm_bench_plugin.finalists``), so an interrupted check resumes with
the same command and a rerun on an unchanged scenario costs nothing. The report
(``smm_bench_surrogates.report``) puts the record into the scenario's ``report.json`` (key
``endpoints``) and its ``REPORT.md``; the full report runs the check too.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ENDPOINT_BUDGETS = (300, 3000)
#: seeds of the check's surrogate runs; collection runs use seeds below 10, Figure 1's unseen
#: seeds 1000 + s and exploitation rounds 10000 + ..., so no training row came from these draws
ENDPOINT_SEEDS = tuple(range(20000, 20005))
FRESH_RANDOM_SEED = 9000  # the collection's RandomSampler with this seed: draws no training run made
FRESH_RANDOM_ROWS = 300
BOOTSTRAP = 4000
INTERVAL = 0.90
CLIP = 1.0  # the accuracies' output clip inside the graph
GOALS = {"max_mean_gap": 0.03, "clip_true_at_least": 0.95}  # the end-point goals, fixed before measuring

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / "surrogates" / ".cache" / "endpoints"


def endpoint_arguments(skip: Sequence[str] = (), fresh: int = FRESH_RANDOM_ROWS) -> str:
    """The options a check ran with that differ from the defaults, as the command line that redoes it."""
    return ((f" --skip {' '.join(skip)}" if skip else "")
            + (f" --fresh {fresh}" if fresh != FRESH_RANDOM_ROWS else ""))


def held_out_objective(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The model's own held-out figures for its objective (R², tau, rows, exported ensemble, and
    the selection candidate with its size where the quality report has them): a record carries
    them so that the check, the split and the cost of a call are read side by side."""
    from .training_record import exported_size

    targets = (meta.get("quality") or {}).get("targets") or {}
    t = next((t for t in targets.values() if t.get("role") == "objective"), None)
    if t is None:
        return None
    size = exported_size(t)
    return {**{k: t.get(k) for k in ("r2", "kendall_tau", "n", "ensemble")},
            **({"candidate": t["candidate"]} if t.get("candidate") else {}),
            **{k: size[k] for k in ("trees", "node_visits") if k in size}}


def checks_dir(space: str, family: str = "mini") -> Path:
    """Where the check's true evaluations of ``space`` are stored (outside every training folder)."""
    from smm_bench_collection.plan import DATA_DIR

    return DATA_DIR / "checks" / f"{family}_{space}"


# ----------------------------------------------------------------------------- statistics

def bootstrap_mean(x: Sequence[float], seed: int = 0, n: int = BOOTSTRAP,
                   level: float = INTERVAL) -> tuple[float, float, float]:
    """(mean, lower, upper): the mean of ``x`` with a percentile bootstrap interval."""
    x = np.asarray(x, dtype=np.float64)
    means = np.random.default_rng(seed).choice(x, size=(n, x.size), replace=True).mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(x.mean()), float(lo), float(hi)


def _difference_interval(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a bootstrap interval resampling each group's seeds independently."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    diffs = (rng.choice(a, size=(BOOTSTRAP, a.size)).mean(1) - rng.choice(b, size=(BOOTSTRAP, b.size)).mean(1))
    lo, hi = np.quantile(diffs, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def order_agreement(surrogate: dict[str, list[float]], true: dict[str, list[float]]) -> dict[str, Any]:
    """Compare the optimisers' order by mean surrogate best with their order by mean true value.

    A pair ordered differently is *unresolved* (allowed to swap) when the bootstrap interval of
    its true difference contains 0: the true values themselves do not order it."""
    names = list(surrogate)
    by_s = sorted(names, key=lambda n: -np.mean(surrogate[n]))
    by_t = sorted(names, key=lambda n: -np.mean(true[n]))
    swapped, resolved = [], []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ds = np.mean(surrogate[a]) - np.mean(surrogate[b])
            dt, lo, hi = _difference_interval(true[a], true[b])
            if np.sign(ds) != np.sign(dt):
                pair = {"pair": [a, b], "true_difference": dt, "interval": [lo, hi]}
                swapped.append(pair)
                if lo > 0 or hi < 0:
                    resolved.append(pair)
    return {"surrogate_order": by_s, "true_order": by_t, "same_order": by_s == by_t,
            "swapped_pairs": swapped, "resolved_swaps": resolved, "agrees_up_to_ties": not resolved}


def summarise(units: list[dict[str, Any]], truths: list[dict[str, Any]]) -> dict[str, Any]:
    """Per budget and optimiser: surrogate best, true value at that configuration, gap, clip; the order."""
    out: dict[str, Any] = {}
    for budget in sorted({u["budget"] for u in units}):
        per, s_best, t_best = {}, {}, {}
        for name in dict.fromkeys(u["optimizer"] for u in units if u["budget"] == budget):
            pairs = [(u, t) for u, t in zip(units, truths) if u["budget"] == budget and u["optimizer"] == name]
            s = [u["surrogate_objective"] for u, _ in pairs]
            t = [tr["objective_acc"] for _, tr in pairs]
            gap, lo, hi = bootstrap_mean(np.subtract(s, t))
            at_clip = [tr["objective_acc"] for u, tr in pairs if u["surrogate_objective"] >= CLIP - 1e-12]
            test_gap = [u["surrogate_test"] - tr["test_acc"] for u, tr in pairs if u["surrogate_test"] is not None]
            per[name] = {"seeds": [u["seed"] for u, _ in pairs], "surrogate": s, "true": t,
                         "surrogate_mean": float(np.mean(s)), "true_mean": float(np.mean(t)),
                         "gap_mean": gap, "gap_interval": [lo, hi],
                         "test_gap_mean": float(np.mean(test_gap)) if test_gap else None,
                         "at_clip": len(at_clip), "true_at_clip": at_clip,
                         "gap_ok": gap <= GOALS["max_mean_gap"],
                         "clip_ok": all(v >= GOALS["clip_true_at_least"] for v in at_clip)}
            s_best[name], t_best[name] = s, t
        out[str(budget)] = {"optimizers": per, "order": order_agreement(s_best, t_best)}
    return out


def fresh_random_quality(bench, truths: list[dict[str, Any]], configs: list[dict[str, Any]]) -> dict[str, Any]:
    """R² and Kendall tau of the surrogate on fresh uniform random configurations, both accuracies."""
    from .train import held_out_quality

    pred = bench.evaluate(configs)
    out = {"rows": len(configs), "seed": FRESH_RANDOM_SEED}
    for role, name, column in (("objective", bench.objective_name, "objective_acc"),
                               ("test", bench.test_name, "test_acc")):
        if name is None:
            continue
        y = np.array([t[column] for t in truths])
        p = np.array([row[name] for row in pred])
        q = held_out_quality(p, y)
        out[role] = {"r2": q["r2"], "kendall_tau": q["kendall_tau"], "true_mean": float(y.mean()),
                     "surrogate_mean": float(p.mean())}
    return out


# ---------------------------------------------------------------------------------- check

def endpoint_check(scenario, *, family: str = "mini", budgets: Sequence[int] = ENDPOINT_BUDGETS,
                   seeds: Sequence[int] = ENDPOINT_SEEDS, optimizers: Sequence[str] | None = None,
                   fresh: int = FRESH_RANDOM_ROWS, checks: str | Path | None = None,
                   work: str | Path | None = DEFAULT_WORK, progress: bool = False, jobs: int = 1,
                   skip: Sequence[str] = ()) -> dict[str, Any]:
    """Run the check (module doc) and return its record; nothing is written into the scenario.
    ``jobs`` processes run the surrogate runs (the record does not depend on it). ``skip`` names
    ``optimizer@budget`` cells left out (say, Optuna's TPE at 3,000 evaluations, which costs most
    of the check's time); the record and the report name them, so a partial check never passes
    for a whole one."""
    from smm_bench_collection.samplers import make_sampler
    from smm_bench_collection.truth import TrueEvaluations
    from smm_bench_plugin import load
    from smm_bench_plugin.benchmark import Benchmark
    from smm_bench_plugin.compare import trajectory_versions
    from smm_bench_plugin.finalists import model_digest, parse_skip, run_finalists, skip_names
    from smm_bench_plugin.optimizers import ArraySpace, hostable_optimizers

    t0 = time.perf_counter()
    bench = scenario if isinstance(scenario, Benchmark) else load(scenario)
    space = bench.meta.get("space")
    if space not in ("ps", "dfs"):
        raise ValueError(f"scenario {bench.name!r} has space {space!r}; the check needs 'ps' or 'dfs' (a family "
                         "to evaluate it for real)")
    optimizers = list(optimizers or hostable_optimizers(ArraySpace.of(bench)))
    skipped = parse_skip(skip, optimizers, budgets)
    family_id = (bench.meta.get("provenance") or {}).get("family_id")
    checks = Path(checks) if checks else checks_dir(space, family)
    endpoint_truth = TrueEvaluations(checks / "endpoints", space, family=family, sampler="endpoint")
    if endpoint_truth.family_id != family_id:  # a true value of another family checks nothing
        return {"scenario": bench.name, "skipped": f"the local '{family}' family is {endpoint_truth.family_id}, "
                                                   f"the scenario was trained on {family_id}"}
    units = run_finalists(bench, optimizers, budgets, seeds, cache=work, progress=progress, jobs=jobs,
                          skip=skipped)
    t_surrogate = time.perf_counter() - t0
    truths = endpoint_truth.evaluate([u["config"] for u in units], progress=progress)
    fresh_truth = TrueEvaluations(checks / f"random-s{FRESH_RANDOM_SEED}", space, family=family, sampler="random",
                                  run_seed=FRESH_RANDOM_SEED)
    fresh_configs = make_sampler("random", space, FRESH_RANDOM_SEED, batch_size=fresh).ask() if fresh else []
    fresh_rows = fresh_truth.evaluate(fresh_configs, progress=progress) if fresh else []
    endpoint_truth.close()
    fresh_truth.close()
    spent = endpoint_truth.evaluated + fresh_truth.evaluated
    return {
        "scenario": bench.name, "space": space, "model": model_digest(bench), "family_id": family_id,
        "optimizers": optimizers, "budgets": list(budgets), "seeds": list(seeds), "goals": GOALS,
        "cells_skipped": skip_names(skipped, optimizers),
        "interval": INTERVAL, "by_budget": summarise(units, truths), "held_out": held_out_objective(bench.meta),
        "fresh_random": fresh_random_quality(bench, fresh_rows, fresh_configs) if fresh else None,
        "true_evaluations": {"endpoints": len({t["config_id"] for t in truths}), "fresh_random": len(fresh_rows),
                             "evaluated_now": spent, "seconds_now": endpoint_truth.seconds + fresh_truth.seconds,
                             "store": str(_relative(checks))},
        "library_versions": trajectory_versions(),  # CMA-ES/CatCMA end points depend on the BLAS kernel
        "surrogate_seconds": round(sum(u["seconds"] for u in units), 1),
        "seconds": round(time.perf_counter() - t0, 1), "surrogate_wall_seconds_now": round(t_surrogate, 1),
        "command": f"python -m smm_bench_surrogates.report --scenario {bench.name} --endpoints-only"
                   + endpoint_arguments(skip, fresh),
    }


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(REPO)
    except ValueError:
        return path


# ------------------------------------------------------------------------------ rendering

def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def render_lines(e: dict[str, Any] | None) -> list[str]:
    """The REPORT.md section of an end-point check record."""
    if not e:
        return []
    title = ["", "## Where optimisers end: surrogate best against its true value", ""]
    if "skipped" in e:
        return title + [f"Skipped: {e['skipped']}."]
    te = e["true_evaluations"]
    lines = title + [
             f"Every `compare` optimiser ({', '.join(e['optimizers'])}) ran on this scenario at budgets "
             f"{', '.join(f'{b:,}' for b in e['budgets'])} with seeds {e['seeds'][0]}–{e['seeds'][-1]}, whose "
             "draws are no training rows; each run's best configuration was then merged and evaluated for real. "
             f"Gap = surrogate minus true, mean over seeds with a {e['interval']:.0%} bootstrap interval. "
             f"Goals: mean gap at most {e['goals']['max_mean_gap']} for every optimiser; no run at the clip "
             f"({CLIP:.0f}) unless its true value is at least {e['goals']['clip_true_at_least']}; the same order "
             "by surrogate as by true value (pairs the true values do not resolve may swap). "
             f"Regenerate: `{e['command']}` ({te['endpoints']} end-point and {te['fresh_random']} fresh random "
             f"true evaluations, cached in `{te['store']}`; {e['seconds']:.0f} s this time, of which "
             f"{te['evaluated_now']} real evaluations took {te['seconds_now']:.0f} s; the surrogate runs took "
             f"{e['surrogate_seconds']:.0f} s).", ""]
    kernel = (e.get("library_versions") or {}).get("blas")
    if kernel:  # another kernel draws other, equally valid CMA-ES/CatCMA paths from the same seeds
        lines[-2] += (f" CMA-ES and CatCMA paths depend on numpy's BLAS kernel: this check ran on {kernel} "
                      "(`smm-bench compare --blas-kernel` pins one).")
    if e.get("cells_skipped"):
        lines[-1:] = [f"Not run this time, so this check is partial: {', '.join(e['cells_skipped'])} (optimiser@budget).", ""]
    lines += ["| budget | optimiser | surrogate best | true at that config | gap (interval) | runs at the clip "
              "(true) | goal |", "|---|---|---|---|---|---|---|"]
    for budget, b in e["by_budget"].items():
        for name, o in b["optimizers"].items():
            clip = (f"{o['at_clip']} ({', '.join(f'{v:.3f}' for v in o['true_at_clip'])})" if o["at_clip"] else "0")
            ok = "met" if o["gap_ok"] and o["clip_ok"] else "missed"
            lines.append(f"| {int(budget):,} | {name} | {o['surrogate_mean']:.3f} | {o['true_mean']:.3f} | "
                         f"{o['gap_mean']:+.3f} ({o['gap_interval'][0]:+.3f} to {o['gap_interval'][1]:+.3f}) | "
                         f"{clip} | {ok} |")
    lines.append("")
    for budget, b in e["by_budget"].items():
        order = b["order"]
        verdict = ("the same order" if order["same_order"] else
                   "the same order up to pairs the true values do not resolve" if order["agrees_up_to_ties"] else
                   "a different order: " + "; ".join(f"{p['pair'][0]} vs {p['pair'][1]} (true difference "
                                                     f"{p['true_difference']:+.3f})" for p in order["resolved_swaps"]))
        lines.append(f"- Budget {int(budget):,}: surrogate {' > '.join(order['surrogate_order'])}; true "
                     f"{' > '.join(order['true_order'])}: {verdict}.")
    fr = e.get("fresh_random")
    if fr:
        parts = [f"{role} R² {_f(fr[role]['r2'])}, tau {_f(fr[role]['kendall_tau'])} (true mean "
                 f"{fr[role]['true_mean']:.3f}, surrogate mean {fr[role]['surrogate_mean']:.3f})"
                 for role in ("objective", "test") if role in fr]
        lines.append(f"- Fresh uniform random configurations ({fr['rows']}, the collection's random sampler with "
                     f"seed {fr['seed']}): " + "; ".join(parts) + ".")
    return lines


def main(argv: list[str] | None = None) -> int:
    """The check on any scenario folder (a candidate retrain, say), its record written to ``--out``."""
    import argparse
    import json
    import shlex
    import sys

    ap = argparse.ArgumentParser(prog="python -m smm_bench_surrogates.endpoints", description=main.__doc__)
    ap.add_argument("scenario", help="scenario name or folder")
    ap.add_argument("--out", required=True, help="JSON file for the record")
    ap.add_argument("--family", default="mini", help="family that evaluates the end points for real")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the surrogate runs")
    ap.add_argument("--optimizers", nargs="+", default=None, help="default: every compare optimiser the space hosts")
    ap.add_argument("--budgets", nargs="+", type=int, default=list(ENDPOINT_BUDGETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=list(ENDPOINT_SEEDS))
    ap.add_argument("--fresh", type=int, default=FRESH_RANDOM_ROWS, help="fresh uniform random configurations")
    ap.add_argument("--checks", default=None, help="folder of the true-evaluation stores (default "
                                                   "collection/data/checks/<family>_<space>)")
    ap.add_argument("--work", default=str(DEFAULT_WORK), help="cache of the surrogate runs")
    ap.add_argument("--skip", nargs="+", default=[], metavar="OPTIMIZER@BUDGET",
                    help="cells to leave out, e.g. tpe@3000 (the record names them: a partial check)")
    a = ap.parse_args(argv)
    if a.jobs < 1:
        ap.error(f"--jobs must be >= 1, got {a.jobs}")
    e = endpoint_check(a.scenario, family=a.family, progress=True, jobs=a.jobs, skip=a.skip, checks=a.checks,
                       work=a.work, optimizers=a.optimizers, budgets=a.budgets, seeds=a.seeds, fresh=a.fresh)
    e["command"] = "python -m smm_bench_surrogates.endpoints " + shlex.join(sys.argv[1:] if argv is None else argv)
    Path(a.out).write_text(json.dumps(e, indent=1, default=float) + "\n")
    print("\n".join(render_lines(e)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
