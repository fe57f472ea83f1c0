"""``smm-bench compare``: the main job — run optimisers on a surrogate scenario and compare them.

Each (optimiser, seed) run gets ``budget`` evaluations of the scenario's objective target
(maximised). Per run we keep the full trajectory (objective and test value of every
evaluation), and report the final best objective and the test score *of that same
configuration* (what a user who trusted the objective would ship), mean ± std over seeds,
plus wall time split into benchmark time (``Benchmark.evaluate_array``) and optimiser time:
the surrogate should be a small share; when it is not, that is a performance bug to chase.

Outputs in ``--out``: ``trajectories.csv`` (or ``.parquet``), ``summary.json``,
``table.md`` and ``best_so_far.png``. The optimisers live in :mod:`.optimizers`; matplotlib
and the optimiser libraries are imported lazily (extra ``[compare]``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import Benchmark
from .compare_setup import (DEFAULT_SCENARIO, default_jobs, open_scenario, positive_count, sample_std,
                            seed_list)
from .kinds import load
from .paths import install_hint
from .optimizers import (OPTIMIZERS, RELAXED, ArraySpace, BudgetExhausted, Evaluator, check_optimizer,
                         default_optimizers, import_libraries)

__all__ = ["DEFAULT_SCENARIO", "DEFAULT_BUDGET", "DEFAULT_SEEDS", "Run", "Comparison", "compare", "check_outputs",
           "trajectory_versions",
           "check_out_folder", "write_outputs", "main"]

DEFAULT_BUDGET = 300
DEFAULT_SEEDS = 5


@dataclass
class Run:
    """One optimiser run: per-evaluation objective/test values and its timing."""

    optimizer: str
    seed: int
    objective: np.ndarray
    test: np.ndarray
    wall_seconds: float
    benchmark_seconds: float
    best_config: dict[str, Any] | None = None  # the configuration of ``best_index``: what the run found
    # every evaluated row (``compare(..., keep_rows=True)``): YAHPO codes and floats, in evaluation order
    x_cat: np.ndarray | None = None
    x_cont: np.ndarray | None = None

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.objective))  # first evaluation reaching the best value

    @property
    def best_objective(self) -> float:
        return float(self.objective[self.best_index])

    @property
    def test_at_best(self) -> float:
        return float(self.test[self.best_index])

    def top_indices(self, k: int) -> np.ndarray:
        """The evaluations of the ``k`` highest objective values, best first (ties: earliest first).

        Why: where a run ends on a surrogate is not one point but the top of its trajectory; a
        validity check or an exploitation round evaluates these for real."""
        order = np.argsort(-self.objective, kind="stable")
        return order[:k]

    def configs_at(self, bench: Benchmark, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The configurations of the given evaluations (needs ``compare(..., keep_rows=True)``)."""
        if self.x_cat is None or self.x_cont is None:
            raise ValueError("this run kept no rows: run compare(..., keep_rows=True)")
        idx = np.asarray(indices, dtype=np.int64)
        return bench.decode(self.x_cat[idx], self.x_cont[idx])

    def best_so_far(self) -> np.ndarray:
        return np.maximum.accumulate(self.objective)

    def test_at_best_so_far(self) -> np.ndarray:
        idx = np.zeros(len(self.objective), dtype=np.int64)
        best = -math.inf
        for i, v in enumerate(self.objective):
            if v > best:
                best, cur = v, i
            idx[i] = cur
        return self.test[idx]


@dataclass
class Comparison:
    scenario: str
    scenario_path: str
    space: str | None
    objective_name: str
    test_name: str | None
    budget: int
    seeds: list[int]
    runs: list[Run] = field(default_factory=list)
    wall_seconds: float = 0.0
    has_categoricals: bool = False
    jobs: int = 1
    # the surrogate's objective and test at the space's default configuration (None: not computed)
    default_values: dict[str, float | None] | None = None

    def optimizers(self) -> list[str]:
        return list(dict.fromkeys(r.optimizer for r in self.runs))

    def summary(self) -> dict[str, Any]:
        """Per-optimiser statistics (mean ± sample std over seeds) and the time split."""
        per: dict[str, Any] = {}
        for name in self.optimizers():
            runs = [r for r in self.runs if r.optimizer == name]
            best = np.array([r.best_objective for r in runs])
            test = np.array([r.test_at_best for r in runs])
            wall = sum(r.wall_seconds for r in runs)
            bench = sum(r.benchmark_seconds for r in runs)
            per[name] = {
                "encoding": self.encoding(name),
                "runs": len(runs),
                "best_objective_mean": float(best.mean()), "best_objective_std": sample_std(best),
                "test_at_best_mean": float(np.nanmean(test)) if not np.isnan(test).all() else None,
                "test_at_best_std": sample_std(test) if not np.isnan(test).all() else None,
                "wall_seconds_per_run": wall / len(runs),
                "benchmark_seconds": bench, "optimizer_seconds": wall - bench,
                "benchmark_share": bench / wall if wall > 0 else None,
            }
        wall = sum(r.wall_seconds for r in self.runs)
        bench = sum(r.benchmark_seconds for r in self.runs)
        return {
            "scenario": self.scenario, "scenario_path": self.scenario_path, "space": self.space,
            "objective": self.objective_name, "test": self.test_name, "budget": self.budget, "seeds": self.seeds,
            "direction": "maximize", "optimizers": per,
            "wall_seconds_total": self.wall_seconds, "run_seconds_total": wall,
            "benchmark_seconds_total": bench, "optimizer_seconds_total": wall - bench,
            "benchmark_share": bench / wall if wall > 0 else None,
            "evaluations": int(sum(len(r.objective) for r in self.runs)), "jobs": self.jobs,
            "library_versions": trajectory_versions(),
            "default_configuration": self.default_values,
        }

    def encoding(self, name: str) -> str:
        """``relaxed`` for an optimiser that sees the categoricals as floats, else ``native``."""
        return "relaxed" if name in RELAXED and self.has_categoricals else "native"


def trajectory_versions() -> dict[str, str]:
    """Library versions and numpy's BLAS kernel, on which CMA-family trajectories depend (see ``blas``):
    the record every run of an optimiser on a surrogate carries, so a rerun elsewhere knows why
    its CMA-ES or CatCMA path differs."""
    from .blas import with_kernel
    from .scenario import library_versions

    return with_kernel(library_versions("smm-bench-plugin", "numpy", "onnxruntime", "cmaes", "optuna", "scipy"))


def compare(
    scenario: str | Path | Benchmark = DEFAULT_SCENARIO,
    optimizers: str | Sequence[str] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    progress: bool = False,
    jobs: int | None = 1,
    keep_rows: bool = False,
) -> Comparison:
    """Run every optimiser for every seed with ``budget`` evaluations; return all runs.

    ``optimizers`` (a list, or one comma-separated string as on the command line) defaults to
    :func:`~.optimizers.default_optimizers` of the scenario's space. ``seeds`` is a number of
    seeds (0..n-1) or the seeds themselves. Unknown or inapplicable optimisers and bad
    arguments raise ``ValueError`` / ``TypeError`` before anything runs.
    ``jobs`` > 1 runs the (optimiser, seed) runs in that many processes (``None``: one per
    core, at most 8); results and per-run timings do not depend on it, total wall time does.
    ``keep_rows`` keeps every evaluated row in each :class:`Run` (``x_cat``, ``x_cont``), for
    :meth:`Run.configs_at`.
    """
    budget = positive_count("budget", budget)
    seeds_run = seed_list(seeds)
    if jobs is not None:
        jobs = positive_count("jobs", jobs, "or None (one process per core)")
    bench = open_scenario(scenario)
    space = ArraySpace.of(bench)
    if isinstance(optimizers, str):
        optimizers = [s.strip() for s in optimizers.split(",") if s.strip()]
    names = list(optimizers) if optimizers else default_optimizers(space)
    if len(set(names)) != len(names):
        raise ValueError(f"optimizer listed twice: {names}")
    for name in names:
        check_optimizer(name, space)
    import_libraries(names)
    result = Comparison(bench.name, str(bench.path), bench.meta.get("space"), bench.objective_name, bench.test_name,
                        budget, seeds_run)
    result.has_categoricals = space.n_cat > 0
    result.default_values = default_values(bench)
    tasks = [(name, seed) for name in names for seed in seeds_run]
    jobs = min(default_jobs() if jobs is None else int(jobs), len(tasks))
    result.jobs = jobs
    t_start = time.perf_counter()
    with _Progress(progress, len(tasks) * budget) as bar:
        if jobs == 1:
            for name, seed in tasks:
                bar.describe(f"{name} seed {seed}")
                result.runs.append(_run_one(bench, space, name, seed, budget, bar.advance, keep_rows))
        else:
            result.runs.extend(_run_parallel(str(bench.path), tasks, budget, jobs, bar, keep_rows))
    result.wall_seconds = time.perf_counter() - t_start
    return result


def default_values(bench: Benchmark) -> dict[str, float | None]:
    """The surrogate's objective and test at the space's default configuration.

    Why: it is the reference an optimiser must clear. On DFS the default is model A unchanged,
    which scores higher than most of the space, and a comparison that does not show it hides that
    a short run may never beat doing nothing."""
    values = bench.evaluate(dict(bench.configspace.get_default_configuration()))[0]
    return {"objective": values[bench.objective_name],
            "test": values[bench.test_name] if bench.test_name is not None else None}


def _run_one(bench: Benchmark, space: ArraySpace, name: str, seed: int, budget: int, advance=None,
             keep_rows: bool = False) -> Run:
    ev = Evaluator(bench, budget, on_progress=advance, keep_rows=keep_rows)
    t0 = time.perf_counter()
    try:
        OPTIMIZERS[name](space, ev, seed)
    except BudgetExhausted:
        pass
    wall = time.perf_counter() - t0
    if ev.n != budget:  # pragma: no cover - an optimiser loop must only end by the budget
        raise RuntimeError(f"{name} stopped after {ev.n} of {budget} evaluations")
    best = bench.decode(ev.best_row[0][None], ev.best_row[1][None])[0]
    return Run(name, seed, ev.objective, ev.test, wall, ev.benchmark_seconds, best, ev.x_cat, ev.x_cont)


_WORKER: dict[str, Any] = {}


def _worker_run(path: str, name: str, seed: int, budget: int, keep_rows: bool = False) -> Run:
    """One run in a worker process (each worker loads the scenario once: 1 ORT thread)."""
    import_libraries([name])  # not billed to the run
    if _WORKER.get("path") != path:
        bench = load(path)
        _WORKER.update(path=path, bench=bench, space=ArraySpace.of(bench))
    return _run_one(_WORKER["bench"], _WORKER["space"], name, seed, budget, keep_rows=keep_rows)


def _run_parallel(path: str, tasks: list[tuple[str, int]], budget: int, jobs: int, bar: _Progress,
                  keep_rows: bool = False) -> list[Run]:
    """Independent runs in ``jobs`` spawned processes (spawn: no forked onnxruntime state)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bar.describe(f"{jobs} processes")
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_run, path, name, seed, budget, keep_rows) for name, seed in tasks]
        runs = []
        for f in futures:  # in task order, so the output does not depend on scheduling
            runs.append(f.result())
            bar.advance(budget)
    return runs


class _Progress:
    """A rich progress bar over all evaluations (stderr), or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=False)
            self._task = self._bar.add_task("", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=text)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)


# ----- outputs --------------------------------------------------------------------------------

def trajectory_columns(result: Comparison) -> dict[str, np.ndarray]:
    """Long-format trajectories: one row per evaluation of every run."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("optimizer", "seed", "evaluation", "objective", "test",
                                                          "best_objective", "test_at_best")}
    for r in result.runs:
        n = len(r.objective)
        cols["optimizer"].append(np.full(n, r.optimizer, dtype=object))
        cols["seed"].append(np.full(n, r.seed, dtype=np.int64))
        cols["evaluation"].append(np.arange(1, n + 1, dtype=np.int64))
        cols["objective"].append(r.objective)
        cols["test"].append(r.test)
        cols["best_objective"].append(r.best_so_far())
        cols["test_at_best"].append(r.test_at_best_so_far())
    return {k: np.concatenate(v) for k, v in cols.items()}


def write_best_configs(result: Comparison, path: Path) -> Path:
    """Each run's best configuration with its surrogate values: the finalists to evaluate for real.

    Why: a surrogate is most often wrong exactly where a long optimiser run ends (its most
    optimistic region), so a claim about a found merge needs the true evaluation of this configuration."""
    runs = [{"optimizer": r.optimizer, "seed": r.seed, "evaluation": r.best_index + 1,
             "best_objective": r.best_objective, "test_at_best": None if math.isnan(r.test_at_best) else r.test_at_best,
             "config": r.best_config} for r in result.runs]
    path.write_text(json.dumps({"scenario": result.scenario, "objective": result.objective_name,
                                "test": result.test_name, "runs": runs}, indent=2, default=_json_value) + "\n")
    return path


def _json_value(v: Any) -> Any:
    """numpy scalars in configurations as plain JSON numbers."""
    return v.item() if isinstance(v, np.generic) else str(v)


def write_trajectories(result: Comparison, out: Path, fmt: str = "csv") -> Path:
    cols = trajectory_columns(result)
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ModuleNotFoundError:
            raise ModuleNotFoundError(f"--format parquet needs pyarrow: {install_hint('compare')}",
                                      name="pyarrow") from None
        path = out / "trajectories.parquet"
        pq.write_table(pa.table({k: (v.tolist() if v.dtype == object else v) for k, v in cols.items()}), path)
        return path
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}; allowed: csv, parquet")
    path = out / "trajectories.csv"
    names = list(cols)
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        rows = zip(*(cols[k].tolist() for k in names))
        f.writelines(",".join(_cell(v) for v in row) + "\n" for row in rows)
    return path


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """Rows of the results table (also the markdown table)."""
    rows = []
    for name, s in summary["optimizers"].items():
        test = ("n/a" if s["test_at_best_mean"] is None
                else f"{s['test_at_best_mean']:.4f} ± {s['test_at_best_std']:.4f}")
        share = s["benchmark_share"]
        rows.append([optimizer_label(name, s["encoding"]),
                     f"{s['best_objective_mean']:.4f} ± {s['best_objective_std']:.4f}", test,
                     f"{s['wall_seconds_per_run']:.2f}", "n/a" if share is None else f"{100 * share:.0f}%"])
    return rows


def optimizer_label(name: str, encoding: str) -> str:
    """An optimiser's name as the table and the plot show it: ``de (relaxed)`` on a relaxed encoding."""
    return name + (" (relaxed)" if encoding == "relaxed" else "")


def default_line(summary: dict[str, Any]) -> str | None:
    """The sentence under the table giving the default configuration's values (None without them)."""
    d = summary.get("default_configuration")
    if not d:
        return None
    test = "" if d.get("test") is None else f", test {d['test']:.4f}"
    return f"Default configuration (every hyperparameter at its default): objective {d['objective']:.4f}{test}."


TABLE_HEADER = ["optimizer", "best objective", "test at best", "wall s / run", "benchmark share"]


def markdown_table(summary: dict[str, Any]) -> str:
    head = (f"Scenario `{summary['scenario']}`: objective `{summary['objective']}` (maximise), "
            f"test `{summary['test']}`; {summary['budget']} evaluations x {len(summary['seeds'])} seeds; "
            "mean ± std over seeds.\n\n")
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(summary)]
    share = summary["benchmark_share"]
    foot = (f"\n\nTotal {summary['wall_seconds_total']:.1f} s wall ({summary['jobs']} process(es)) for "
            f"{summary['evaluations']} evaluations; run time {summary['run_seconds_total']:.1f} s, "
            f"benchmark {summary['benchmark_seconds_total']:.2f} s "
            f"({'n/a' if share is None else f'{100 * share:.0f}%'}), "
            f"optimisers {summary['optimizer_seconds_total']:.2f} s.\n")
    default = default_line(summary)
    return head + "\n".join(lines) + (f"\n\n{default}" if default else "") + foot


def plot_best_so_far(result: Comparison, path: Path) -> Path:
    """Best-so-far objective (mean over seeds, band = min..max) and the test score at that best."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    has_test = result.test_name is not None
    fig = Figure(figsize=(11 if has_test else 6, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if has_test else 1, squeeze=False)[0]
    x = np.arange(1, result.budget + 1)
    for name in result.optimizers():
        runs = [r for r in result.runs if r.optimizer == name]
        panels = [(axes[0], np.array([r.best_so_far() for r in runs]))]
        if has_test:
            panels.append((axes[1], np.array([r.test_at_best_so_far() for r in runs])))
        for ax, ys in panels:
            (line,) = ax.plot(x, ys.mean(0), label=optimizer_label(name, result.encoding(name)), lw=1.6)
            if len(runs) > 1:
                ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.15, lw=0)
    if result.default_values:
        for ax, key in zip(axes, ("objective", "test")):
            if result.default_values.get(key) is not None:
                ax.axhline(result.default_values[key], color="black", ls=":", lw=1.2, label="default configuration")
    axes[0].set_ylabel(f"best-so-far {result.objective_name}")
    axes[0].set_title(f"{result.scenario}: objective")
    if has_test:
        axes[1].set_ylabel(f"{result.test_name} of best-so-far config")
        axes[1].set_title("test score of the incumbent")
    for ax in axes:
        ax.set_xlabel("evaluations")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{len(result.seeds)} seeds, mean (line) and min–max (band)", fontsize=9)
    fig.savefig(path, dpi=110)
    return path


OUTPUT_FILES = ("trajectories.csv", "trajectories.parquet", "summary.json", "best_configs.json", "table.md",
                "best_so_far.png")


def check_outputs(out: str | Path, fmt: str = "csv", plot: bool = True) -> Path:
    """Fail before any run if the outputs could not be written: the format, its library,
    matplotlib for the plot, and ``out`` as a writable folder (created here)."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; allowed: csv, parquet")
    needs = ([("pyarrow", "--format parquet")] if fmt == "parquet" else []) + \
            ([("matplotlib", "the best-so-far plot (or pass --no-plot)")] if plot else [])
    for module, what in needs:
        try:
            __import__(module)
        except ImportError:
            raise ModuleNotFoundError(f"{what} needs {module}: {install_hint('compare')}",
                                      name=module) from None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"--out {out} is not writable")
    return out


def earlier_results(out: str | Path) -> list[str]:
    """The output files of an earlier comparison in ``out``: the command line refuses to
    replace them silently (a rerun with other settings would lose a finished comparison)."""
    return sorted(name for name in OUTPUT_FILES if (Path(out) / name).exists())


def write_outputs(result: Comparison, out: str | Path, fmt: str = "csv", plot: bool = True) -> dict[str, Path]:
    """Write trajectories, summary.json, table.md and (``plot``) best_so_far.png into ``out``.

    Output files of an earlier comparison that this one does not write (the other
    trajectory format, a plot under ``plot=False``) are removed, so the folder never mixes
    two comparisons.
    """
    out = check_outputs(out, fmt, plot)
    summary = result.summary()
    paths = {"trajectories": write_trajectories(result, out, fmt)}
    paths["summary"] = out / "summary.json"
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    paths["best_configs"] = write_best_configs(result, out / "best_configs.json")
    paths["table"] = out / "table.md"
    paths["table"].write_text(markdown_table(summary))
    if plot:
        paths["plot"] = plot_best_so_far(result, out / "best_so_far.png")
    for stale in set(OUTPUT_FILES) - {p.name for p in paths.values()}:
        (out / stale).unlink(missing_ok=True)
    return paths


def check_out_folder(args: argparse.Namespace) -> None:
    """``--out`` checked before any run, whichever comparison runs: writable, the trajectory format's
    library and matplotlib installed, and no earlier comparison's results in it unless ``--force``."""
    check_outputs(args.out, fmt=args.format, plot=not args.no_plot)
    held = earlier_results(args.out)
    if held and not getattr(args, "force", False):
        raise FileExistsError(f"--out {args.out} holds an earlier comparison's results ({', '.join(held)}): "
                              "pass --force to replace them, or choose another --out")


def main(args: argparse.Namespace) -> int:
    """CLI entry for a single-fidelity scenario (see ``smm-bench compare --help``; the command
    checks ``--out`` with :func:`check_out_folder` first and hands a multi-fidelity scenario to
    :func:`smm_bench_plugin.mf_compare.main`)."""
    from rich.console import Console
    from rich.table import Table

    optimizers = [s.strip() for s in args.optimizers.split(",") if s.strip()] if args.optimizers else None
    budget = DEFAULT_BUDGET if getattr(args, "budget", None) is None else args.budget
    result = compare(args.scenario, optimizers, budget=budget, seeds=args.seeds, progress=not args.quiet,
                     jobs=None if args.jobs == 0 else args.jobs)
    paths = write_outputs(result, args.out, fmt=args.format, plot=not args.no_plot)
    summary = json.loads(paths["summary"].read_text())
    con = Console(highlight=False, soft_wrap=True)
    table = Table(*TABLE_HEADER, title=f"{summary['scenario']}: {summary['objective']} (maximise), "
                                       f"{summary['budget']} evals x {len(summary['seeds'])} seeds, mean ± std")
    for row in table_rows(summary):
        table.add_row(*row)
    con.print(table)
    if default_line(summary):
        con.print(default_line(summary))
    from .default_point import default_note

    note = default_note(open_scenario(args.scenario))
    if note:  # DFS: the default (model A) beats every random draw; a reader of the table should know
        con.print(note)
    share = summary["benchmark_share"]
    con.print(f"total {summary['wall_seconds_total']:.1f} s wall with {summary['jobs']} process(es); "
              f"summed over runs: {summary['run_seconds_total']:.1f} s, benchmark {summary['benchmark_seconds_total']:.2f} s "
              f"({'n/a' if share is None else f'{100 * share:.0f}%'}), optimisers "
              f"{summary['optimizer_seconds_total']:.2f} s")
    con.print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0

