"""``smm-bench verify RUN_DIR``: each ``compare`` run's best configuration, evaluated for real.

A run on a surrogate ends where the surrogate is most optimistic, so the best value it reports
is a claim about the surrogate until the configuration is merged and judged. ``compare`` writes
every run's best to ``best_configs.json``; this evaluates each of them with the scenario's live
kind (:class:`~smm_bench_plugin.true_kinds.LiveBenchmark`, the ``[collect]`` extra) and writes
``verified.json`` beside it: per run the surrogate's value and the true value, for the objective
and the test target. True evaluations go to the live kind's result store, so a killed verify
resumes with the same command and a second verify of the same configurations costs nothing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["verify", "main"]

VERIFIED_FILE = "verified.json"


def verify(run_dir: str | os.PathLike, *, store: str | os.PathLike | None = None,
           progress: bool = False) -> dict[str, Any]:
    """Evaluate ``run_dir/best_configs.json`` for real; returns (and writes) ``verified.json``'s content."""
    from .kinds import load

    run_dir = Path(run_dir)
    path = run_dir / "best_configs.json"
    try:
        doc = json.loads(path.read_text())
        scenario, runs = doc["scenario"], doc["runs"]
    except FileNotFoundError:
        raise FileNotFoundError(f"RUN_DIR: {path} is missing; pass the --out folder of `smm-bench compare`") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"RUN_DIR: {path} is not a best_configs.json of `smm-bench compare` ({e})") from None
    summary = run_dir / "summary.json"
    if summary.is_file():  # the folder the runs used, if it still exists (a scenario given by path)
        scenario_path = json.loads(summary.read_text()).get("scenario_path")
        if scenario_path and (Path(scenario_path) / "meta.json").is_file():
            scenario = scenario_path
    surrogate = load(scenario)
    live = load(scenario, kind="live", progress=progress, **({} if store is None else {"store": store}))
    try:
        configs = [r["config"] for r in runs]
        predicted = surrogate.evaluate(configs)
        if progress:
            print(f"{surrogate.name}: evaluating {len(configs)} best configuration(s) for real "
                  f"(store {live.store})", flush=True)
        true = live.evaluate(configs)
    finally:
        live.close()
    objective, test = surrogate.objective_name, surrogate.test_name
    rows = []
    for run, p, t in zip(runs, predicted, true):
        row = {"optimizer": run["optimizer"], "seed": run["seed"], "evaluation": run["evaluation"],
               "surrogate_objective": p[objective], "true_objective": t[objective], "gap": p[objective] - t[objective]}
        if test is not None:
            row.update(surrogate_test=p[test], true_test=t[test])
        rows.append(row)
    result = {"scenario": surrogate.name, "objective": objective, "test": test, "family_id": live.family_id,
              "store": str(live.store), "evaluated_now": live.evaluated, "runs": rows}
    (run_dir / VERIFIED_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(args) -> int:
    """CLI entry (see ``smm-bench verify --help``)."""
    from rich.console import Console
    from rich.table import Table

    result = verify(args.run_dir, store=args.store, progress=not args.quiet)
    has_test = result["test"] is not None
    table = Table("optimizer", "seed", "surrogate objective", "true objective", "gap",
                  *(("surrogate test", "true test") if has_test else ()),
                  title=f"{result['scenario']}: each run's best, surrogate beside true ({result['family_id']})")
    for r in result["runs"]:
        table.add_row(r["optimizer"], str(r["seed"]), f"{r['surrogate_objective']:.4f}", f"{r['true_objective']:.4f}",
                      f"{r['gap']:+.4f}", *((f"{r['surrogate_test']:.4f}", f"{r['true_test']:.4f}") if has_test else ()))
    con = Console(highlight=False, soft_wrap=True)
    con.print(table)
    con.print(f"{result['evaluated_now']} evaluated now, the rest read back from {result['store']}; wrote "
              f"{Path(args.run_dir) / VERIFIED_FILE}")
    return 0
