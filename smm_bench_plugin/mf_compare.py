"""``smm-bench compare`` on a multi-fidelity scenario: best-so-far at the FULL fidelity against simulated cost.

Every run gets the same budget of simulated seconds (the scenario's cost target summed over the
run's evaluations, each at the fidelity it was asked at). Multi-fidelity optimisers
(:mod:`.mf_optimizers`) choose a fidelity per evaluation; the single-fidelity optimisers of
:mod:`.optimizers` evaluate at the full fidelity, on the same cost axis. A run's curve is its
incumbent's full-fidelity objective (incumbent: the best value seen at the highest fidelity
reached so far) after each evaluation, against the seconds spent.

Outputs in ``--out``: ``trajectories.csv``, ``summary.json`` (per optimiser: the full-fidelity
best at 25%, 50% and 100% of the budget, mean ± std over seeds), ``table.md`` and
``best_so_far_cost.png``.
"""
from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .compare_setup import default_jobs, open_scenario, positive_count, sample_std, seed_list
from .kinds import load
from .mf_optimizers import MF_LIBRARIES, MF_OPTIMIZERS, CostEvaluator, FullFidelity
from .optimizers import OPTIMIZERS, ArraySpace, BudgetExhausted, check_optimizer, import_libraries
from .paths import install_hint

__all__ = ["MFRun", "MFComparison", "compare_multifidelity", "default_mf_optimizers", "write_mf_outputs",
           "DEFAULT_FULL_EVALUATIONS", "CHECKPOINTS"]

DEFAULT_FULL_EVALUATIONS = 100  # default budget: this many full-fidelity evaluations' worth of seconds
CHECKPOINTS = (0.25, 0.5, 1.0)  # budget shares at which the summary reads every curve


@dataclass
class MFRun:
    optimizer: str
    seed: int
    trajectory: dict[str, np.ndarray]
    wall_seconds: float
    benchmark_seconds: float

    def best_at(self, seconds: float) -> float:
        """The incumbent's full-fidelity objective once ``seconds`` were spent (nan before any evaluation)."""
        cost = self.trajectory["cost"]
        i = int(np.searchsorted(cost, seconds, side="right")) - 1
        return float(self.trajectory["incumbent_full"][i]) if i >= 0 else float("nan")


@dataclass
class MFComparison:
    scenario: str
    objective_name: str
    cost_budget: float
    full_cost: float
    seeds: list[int]
    runs: list[MFRun] = field(default_factory=list)
    wall_seconds: float = 0.0

    def optimizers(self) -> list[str]:
        return list(dict.fromkeys(r.optimizer for r in self.runs))

    def summary(self) -> dict[str, Any]:
        per = {}
        for name in self.optimizers():
            runs = [r for r in self.runs if r.optimizer == name]
            at = {f"{share:g}": [r.best_at(share * self.cost_budget) for r in runs] for share in CHECKPOINTS}
            fid = np.concatenate([r.trajectory["fidelity"] for r in runs])
            per[name] = {"kind": "multi-fidelity" if name in MF_OPTIMIZERS else "single-fidelity", "runs": len(runs),
                         "full_best_at_budget_share": {k: {"mean": _mean(np.array(v)), "std": sample_std(np.array(v))}
                                                       for k, v in at.items()},
                         "evaluations_per_run": float(np.mean([len(r.trajectory["cost"]) for r in runs])),
                         "evaluations_by_fidelity": {str(int(k)): int((fid == k).sum()) for k in np.unique(fid)},
                         "wall_seconds_per_run": float(np.mean([r.wall_seconds for r in runs])),
                         "benchmark_seconds": float(sum(r.benchmark_seconds for r in runs))}
        return {"scenario": self.scenario, "objective": self.objective_name, "direction": "maximize",
                "cost_budget_seconds": self.cost_budget, "full_evaluation_seconds": self.full_cost,
                "budget_in_full_evaluations": self.cost_budget / self.full_cost, "seeds": self.seeds,
                "optimizers": per, "wall_seconds_total": self.wall_seconds}


def _mean(x: np.ndarray) -> float | None:
    """Mean over the runs that had evaluated anything by then (None if none had)."""
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else None


def default_mf_optimizers(space: ArraySpace) -> list[str]:
    """Random search and TPE at the full fidelity, Optuna's Hyperband, BOHB analogue and successive halving:
    every library in the ``[compare]`` extra, so the defaults run without SMAC or DEHB."""
    return ["random", "tpe", "hyperband", "bohb", "sh"]


def full_fidelity_cost(bench, n: int = 256, seed: int = 0) -> float:
    """Median predicted seconds of a full-fidelity evaluation over ``n`` seeded uniform configurations."""
    space = ArraySpace.of(bench)
    rng = np.random.default_rng(seed)
    x_cat = rng.integers(1, space.levels + 1, size=(n, space.n_cat)).astype(np.int32)
    x_cont = rng.uniform(space.lower, space.upper, size=(n, space.n_cont))
    cost = [i for i, t in enumerate(bench.targets) if t.role == "cost"][0]
    return float(np.median(bench.evaluate_array(x_cat, x_cont)[:, cost]))


def _check_names(names: Sequence[str], space: ArraySpace) -> None:
    for name in names:
        if name in MF_OPTIMIZERS:
            continue
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; available on a multi-fidelity scenario: "
                             f"{', '.join([*OPTIMIZERS, *MF_OPTIMIZERS])}")
        check_optimizer(name, space)


def import_mf_libraries(names: Sequence[str]) -> None:
    """Import every optimiser's library up front; a missing one names the extra to install."""
    import importlib

    import_libraries([n for n in names if n in OPTIMIZERS])
    for name in names:
        if name in MF_LIBRARIES:
            module, extra = MF_LIBRARIES[name]
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:
                raise ModuleNotFoundError(f"optimizer {name!r} needs {e.name}: {install_hint(extra)}"
                                          + (" in a venv of its own (DEHB pins numpy<2)" if extra == "dehb" else ""),
                                          name=e.name) from None


def run_one(bench, space: ArraySpace, name: str, seed: int, cost_budget: float) -> MFRun:
    ev = CostEvaluator(bench, cost_budget)
    t0 = time.perf_counter()
    try:
        if name in MF_OPTIMIZERS:
            MF_OPTIMIZERS[name](space, ev, seed)
        else:
            OPTIMIZERS[name](space, FullFidelity(ev), seed)
    except BudgetExhausted:
        pass
    return MFRun(name, seed, ev.trajectory(), time.perf_counter() - t0, ev.benchmark_seconds)


_WORKER: dict[str, Any] = {}


def _worker_run(path: str, name: str, seed: int, cost_budget: float) -> MFRun:
    """One run in a worker process (each worker loads the scenario once)."""
    import_mf_libraries([name])
    if _WORKER.get("path") != path:
        bench = load(path)
        _WORKER.update(path=path, bench=bench, space=ArraySpace.of(bench))
    return run_one(_WORKER["bench"], _WORKER["space"], name, seed, cost_budget)


def compare_multifidelity(scenario, optimizers: str | Sequence[str] | None = None, *,
                          cost_budget: float | None = None, seeds: int | Sequence[int] = 5,
                          full_evaluations: float = DEFAULT_FULL_EVALUATIONS, jobs: int | None = 1) -> MFComparison:
    """Run every optimiser for every seed on a multi-fidelity scenario with one simulated-seconds budget.

    ``cost_budget`` (seconds) defaults to ``full_evaluations`` times :func:`full_fidelity_cost`.
    ``jobs`` > 1 runs the (optimiser, seed) runs in that many spawned processes (None: one per core,
    at most 8); the runs do not depend on it."""
    from .multifidelity import MultiFidelityBenchmark

    bench = open_scenario(scenario)
    if not isinstance(bench, MultiFidelityBenchmark):
        raise ValueError(f"scenario {bench.name!r} has no fidelity; a cost comparison needs a multi-fidelity "
                         "scenario such as smm_ps_mini_mf")
    space = ArraySpace.of(bench)
    if isinstance(optimizers, str):
        optimizers = [s.strip() for s in optimizers.split(",") if s.strip()]
    names = list(optimizers) if optimizers else default_mf_optimizers(space)
    if len(set(names)) != len(names):
        raise ValueError(f"optimizer listed twice: {names}")
    _check_names(names, space)
    seeds_run = seed_list(seeds)
    full = full_fidelity_cost(bench)
    if cost_budget is None:
        cost_budget = full_evaluations * full
    if not (isinstance(cost_budget, (int, float)) and not isinstance(cost_budget, bool) and cost_budget > 0):
        raise ValueError(f"cost budget must be a positive number of seconds, got {cost_budget!r}")
    import_mf_libraries(names)
    result = MFComparison(bench.name, bench.objective_name, float(cost_budget), full, seeds_run)
    tasks = [(name, seed) for name in names for seed in seeds_run]
    jobs = min(default_jobs() if jobs is None else positive_count("jobs", jobs), len(tasks))
    t0 = time.perf_counter()
    if jobs == 1:
        result.runs = [run_one(bench, space, name, seed, float(cost_budget)) for name, seed in tasks]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_worker_run, str(bench.path), name, seed, float(cost_budget)) for name, seed in tasks]
            result.runs = [f.result() for f in futures]  # in task order, whatever the scheduling
    result.wall_seconds = time.perf_counter() - t0
    return result


# ----- outputs --------------------------------------------------------------------------------

def markdown_table(summary: dict[str, Any]) -> str:
    shares = [f"{s:g}" for s in CHECKPOINTS]
    head = (f"Scenario `{summary['scenario']}`: full-fidelity `{summary['objective']}` of the incumbent (maximise) "
            f"after a share of the budget of {summary['cost_budget_seconds']:.0f} simulated seconds "
            f"(= {summary['budget_in_full_evaluations']:.0f} full evaluations of {summary['full_evaluation_seconds']:.2f} s); "
            f"{len(summary['seeds'])} seeds, mean ± std.\n\n")
    cols = ["optimizer", "kind", *[f"best at {float(s):.0%}" for s in shares], "evaluations / run", "wall s / run"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, s in summary["optimizers"].items():
        at = s["full_best_at_budget_share"]
        lines.append(f"| {name} | {s['kind']} | " + " | ".join("—" if at[k]["mean"] is None else
                                                              f"{at[k]['mean']:.4f} ± {at[k]['std']:.4f}" for k in shares)
                     + f" | {s['evaluations_per_run']:.0f} | {s['wall_seconds_per_run']:.2f} |")
    return head + "\n".join(lines) + f"\n\nTotal {summary['wall_seconds_total']:.1f} s wall.\n"


def plot_cost(result: MFComparison, path: Path) -> Path:
    """Full-fidelity best-so-far (mean over seeds, band min..max) against simulated seconds, all optimisers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    grid = np.geomspace(result.full_cost * 0.5, result.cost_budget, 200)
    for name in result.optimizers():
        runs = [r for r in result.runs if r.optimizer == name]
        ys = np.array([[r.best_at(c) for c in grid] for r in runs])
        style = "-" if name in MF_OPTIMIZERS else "--"
        with warnings.catch_warnings():  # before a run's first evaluation its curve is nan: left blank
            warnings.simplefilter("ignore", RuntimeWarning)
            (line,) = ax.plot(grid, np.nanmean(ys, 0), style, lw=1.6, label=name)
            if len(runs) > 1:
                ax.fill_between(grid, np.nanmin(ys, 0), np.nanmax(ys, 0), color=line.get_color(), alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("simulated seconds (sum of predicted evaluation costs)")
    ax.set_ylabel(f"full-fidelity {result.objective_name} of the incumbent")
    ax.set_title(f"{result.scenario}: multi-fidelity (solid) vs single-fidelity (dashed)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def write_mf_outputs(result: MFComparison, out: str | Path, plot: bool = True) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    paths = {"summary": out / "summary.json", "table": out / "table.md", "trajectories": out / "trajectories.csv"}
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    paths["table"].write_text(markdown_table(summary))
    with open(paths["trajectories"], "w") as f:
        f.write("optimizer,seed,evaluation,fidelity,seen,cost,incumbent_full,incumbent_test\n")
        for r in result.runs:
            t = r.trajectory
            for i in range(len(t["cost"])):
                f.write(f"{r.optimizer},{r.seed},{i + 1},{int(t['fidelity'][i])},{t['seen'][i]!r},{t['cost'][i]!r},"
                        f"{t['incumbent_full'][i]!r},{t['incumbent_test'][i]!r}\n")
    if plot:
        paths["plot"] = plot_cost(result, out / "best_so_far_cost.png")
    return paths


def main(args) -> int:
    """CLI entry for a multi-fidelity scenario (``smm-bench compare`` dispatches here after
    :func:`smm_bench_plugin.compare.check_out_folder`)."""
    from rich.console import Console

    budget = getattr(args, "budget", None)
    result = compare_multifidelity(args.scenario, args.optimizers, cost_budget=getattr(args, "cost_budget", None),
                                   seeds=args.seeds, jobs=None if args.jobs == 0 else args.jobs,
                                   full_evaluations=DEFAULT_FULL_EVALUATIONS if budget is None else budget)
    paths = write_mf_outputs(result, args.out, plot=not args.no_plot)
    con = Console(highlight=False, soft_wrap=True)
    con.print(paths["table"].read_text(), markup=False)
    con.print("wrote " + ", ".join(str(p) for p in paths.values()), markup=False)
    return 0
