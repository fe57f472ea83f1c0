"""``smm-bench`` command line.

Each sub-command is one function registered with :func:`command`; it receives the parsed
arguments and returns an exit code. Heavy modules (collection, training, comparison) must be
imported inside the function, so ``smm-bench list`` stays fast. To add one::

    @command("compare", "compare optimisers on a scenario", arg("scenario"), arg("--budget", type=int))
    def _compare(args) -> int:
        from .compare import main  # lazy
        return main(args)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from .derived_features import FEATURE_SETS

__all__ = ["main", "command", "arg"]

_COMMANDS: dict[str, tuple[str, tuple[tuple[tuple, dict], ...], Callable[[argparse.Namespace], int]]] = {}


def arg(*names: str, **kwargs: Any) -> tuple[tuple, dict]:
    """An ``add_argument`` call, recorded for :func:`command`."""
    return names, kwargs


def command(name: str, help: str, *arguments: tuple[tuple, dict]):
    """Register ``fn(args) -> int`` as sub-command ``name``."""
    def register(fn: Callable[[argparse.Namespace], int]):
        _COMMANDS[name] = (help, arguments, fn)
        return fn
    return register


BLAS_KERNEL_ARG = arg("--blas-kernel", metavar="K", default=None,
                      help="run on this OpenBLAS kernel (e.g. Haswell, SkylakeX) by rerunning under "
                           "OPENBLAS_CORETYPE=K: CMA-ES and CatCMA draw differently on different kernels "
                           "(smm_bench_plugin.blas)")


def _pin_kernel(args: argparse.Namespace) -> int | None:
    """With ``--blas-kernel K``, the exit status of this command rerun on kernel K (None: go on here)."""
    if not args.blas_kernel:
        return None
    from .blas import pin_kernel

    return pin_kernel(args.blas_kernel, "smm_bench_plugin.cli", args.argv)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@command("list", "list the installed scenarios (bundled and user data dir)")
def _list(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from .paths import scenario_entries, user_scenarios_dir

    entries = scenario_entries()
    con = _console()
    if not entries:
        con.print(f"no scenarios installed (user folder: {user_scenarios_dir()}); "
                  "import the authors' files with: smm-bench import-lightgbm DIR --space ps|dfs", markup=False)
        return 0
    table = Table("name", "source", "path")
    for e in entries:
        table.add_row(Text(e.name), Text(e.source), Text(str(e.path)))  # Text: names and paths are not markup
    con.print(table)
    return 0


@command("info", "show a scenario's metadata", arg("name", help="scenario name or folder"))
def _info(args: argparse.Namespace) -> int:
    from .benchmark import load

    bench = load(args.name)
    m = bench.meta
    from rich.markup import escape

    con = _console()
    con.print(f"[bold]{escape(bench.name)}[/bold]  {escape(str(m.get('description', '')))}")
    lines = [f"path: {bench.path}",
             f"space: {m.get('space')}  ({len(bench.cat_names)} categorical + {len(bench.cont_names)} continuous)",
             *(f"target {t.name}: role={t.role} range=[{t.lower}, {t.upper}] {t.description}" for t in bench.targets),
             "quality: " + json.dumps(m.get("quality")),
             "library versions: " + json.dumps(m.get("library_versions")),
             *(f"cite: {c}" for c in bench.citation)]
    for line in lines:  # data, printed as is: a path or a description may contain [brackets]
        con.print(line, markup=False)
    return 0


@command("evaluate", "predict the targets of configurations (JSON: one object or a list)",
         arg("name", help="scenario name or folder"),
         arg("--config", help="JSON file (default: read JSON from stdin)"))
def _evaluate(args: argparse.Namespace) -> int:
    from .benchmark import load

    text = open(args.config).read() if args.config else sys.stdin.read()
    try:
        configs = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"configuration input is not valid JSON ({e})") from None
    bench = load(args.name)
    print(json.dumps(bench.evaluate(configs if isinstance(configs, list) else [configs])))
    return 0


@command("import-lightgbm", "import the authors' LightGBM surrogate files as scenario smm_ps / smm_dfs",
         arg("dir", help="folder with train_acc_ja_best_model.json, test_acc_ja_best_model.json, label.json"),
         arg("--space", required=True, choices=("ps", "dfs")),
         arg("--name", default=None, help="scenario name (default smm_<space>)"),
         arg("--force", action="store_true", help="replace an existing scenario of that name"))
def _import_lightgbm(args: argparse.Namespace) -> int:
    from .importer import import_lightgbm

    path = import_lightgbm(args.dir, args.space, name=args.name, force=args.force)
    _console().print(f"imported scenario {path.name} -> {path}")
    return 0


@command("collect", "collect true evaluations (merge + generate + judge) into a dataset folder; resumable",
         arg("--space", required=True, choices=("ps", "dfs")),
         arg("--family", default="mini",
             help="mini | mini:<models dir> | hf (the paper's 7B models) | comma-separated model ids or folders "
                  "(PS: base,ja_source,math_source; DFS: model_A,model_B)"),
         arg("--sampler", required=True,
             choices=("random", "random_modelwise", "random_stratified", "cmaes", "sepcma", "catcma", "tpe")),
         arg("--budget", type=int, required=True, help="configurations asked by this run (resume continues it)"),
         arg("--out", required=True, help="dataset folder (one space and one family per folder)"),
         arg("--seed", type=int, default=0),
         arg("--executor", default="local", choices=("local", "ray")),
         arg("--workers", type=int, default=None, help="Ray workers (default: one per GPU, else per CPU)"),
         arg("--batch-size", type=int, default=None,
             help="configurations per evaluation batch (default: each asked round as one batch; Ray: split "
                  "over the workers)"),
         arg("--device", default="cpu", help="torch device of the mini family's batched engine (default cpu; "
                                             "e.g. cuda)"),
         arg("--objective-data", default=None, help="local parquet/jsonl of gsm8k-ja (7B families)"),
         arg("--test-data", default=None, help="local parquet/jsonl of MGSM-ja (7B families)"),
         BLAS_KERNEL_ARG)
def _collect(args: argparse.Namespace) -> int:
    pinned = _pin_kernel(args)
    if pinned is not None:
        return pinned
    from smm_bench_collection.collect import cli_collect  # needs the [collect] extra

    summary = cli_collect(args.space, args.family, args.sampler, args.budget, args.out, executor=args.executor,
                          seed=args.seed, workers=args.workers, gsm8k_ja=args.objective_data,
                          mgsm_ja=args.test_data, device=args.device, batch_size=args.batch_size)
    _console().print(f"{summary.sampler} seed {summary.seed}: {summary.asked}/{summary.budget} configs "
                     f"({summary.evaluated} evaluated now, {summary.reused} reused), best objective "
                     f"{summary.best_objective:.4f} (test {summary.best_test:.4f}), {summary.rows_in_store} rows "
                     f"in {summary.out_dir}")
    return 0 if summary.asked == summary.budget else 1


@command("train", "train a scenario's surrogates from a collected dataset (needs the [train] extra)",
         arg("--data", required=True, help="dataset folder written by smm-bench collect"),
         arg("--space", required=True, choices=("ps", "dfs")),
         arg("--out", required=True, help="scenario folder to write"),
         arg("--trials", type=int, default=40, help="Optuna trials per target"),
         arg("--seed", type=int, default=0),
         arg("--ensemble", choices=("auto", "cv", "refit"), default="auto",
             help="cv: mean of the 5 fold models (the paper); refit: one model on the training split, 5x cheaper; "
                  "auto: per target the cheapest candidate (cv or refit, the tuned trial or a cheaper trial of the "
                  "tuning front) as accurate as the tuned cv on the held-out rows"),
         arg("--reference-out", default=None,
             help="with --ensemble auto: also export the reference (every target's tuned cv) into this folder "
                  "when the rule chose another model, for the end-point comparison"),
         arg("--derived", choices=("auto", "none", *FEATURE_SETS), default="auto",
             help="derived features computed inside the graph (auto: the space's default set, dfs-path-v2 on "
                  "DFS, ps-mean-v1 on PS; none: the paper's raw features only)"),
         arg("--params-from", default=None,
             help="use this trained scenario's tuned parameters instead of tuning (its cv or refit in minutes)"),
         arg("--until", default=None,
             help="train on rows evaluated at or before this ISO date-time only (a scenario's provenance "
                  "rows_until rebuilds it while collection goes on)"))
def _train(args: argparse.Namespace) -> int:
    from smm_bench_surrogates.train import main as train_main  # lightgbm, optuna: imported here only

    return train_main(["--data", args.data, "--space", args.space, "--out", args.out,
                       "--trials", str(args.trials), "--seed", str(args.seed), "--ensemble", args.ensemble,
                       "--derived", args.derived] + (["--until", args.until] if args.until else [])
                      + (["--reference-out", args.reference_out] if args.reference_out else [])
                      + (["--params-from", args.params_from] if args.params_from else []))


@command("compare", "compare optimisers on a scenario: table, best-so-far PNG, trajectories",
         arg("--scenario", default="smm_ps_mini", help="scenario name or folder (default smm_ps_mini)"),
         arg("--optimizers", default=None,
             help="comma-separated, from random,cmaes,sepcma,catcma,tpe,de (default: random,cmaes,sepcma,tpe,de "
                  "on continuous spaces; random,catcma,tpe,de with categoricals); on a multi-fidelity scenario also "
                  "hyperband,bohb,sh (Optuna), smac-hb,smac-mf (SMAC3), dehb (default: random,tpe,hyperband,bohb,sh)"),
         arg("--budget", type=int, default=None,
             help="evaluations per run (default 300); on a multi-fidelity scenario: the cost budget in full "
                  "evaluations' worth of simulated seconds (default 100)"),
         arg("--cost-budget", type=float, default=None,
             help="multi-fidelity scenarios: simulated seconds per run (overrides --budget)"),
         arg("--seeds", type=int, default=5, help="runs per optimiser, seeds 0..N-1 (default 5)"),
         arg("--out", default="smm-compare", help="output folder (default ./smm-compare)"),
         arg("--jobs", type=int, default=0, help="parallel processes for the runs (default 0: one per core, max 8)"),
         arg("--format", default="csv", choices=("csv", "parquet"), help="trajectory file format"),
         arg("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)"),
         arg("--quiet", action="store_true", help="no progress bar"),
         BLAS_KERNEL_ARG)
def _compare(args: argparse.Namespace) -> int:
    pinned = _pin_kernel(args)
    if pinned is not None:
        return pinned
    from .compare import main as compare_main  # lazy: optimiser libraries, matplotlib

    return compare_main(args)


@command("bench", "run the performance suite (bench/ in a source checkout; see README, Performance)",
         arg("--scenarios", default=None, help="comma-separated; paper_ps,paper_dfs (synthetic, paper-sized) or "
                                               "installed names (default: paper_* and the bundled mini ones)"),
         arg("--batches", default=None, help="row counts of the same-model comparison (default 1,100,10000,1000000)"),
         arg("--repeats", type=int, default=None), arg("--min-time", type=float, default=None),
         arg("--budget", type=float, default=None, help="skip batch sizes projected to take longer (seconds)"),
         arg("--quick", action="store_true", default=None), arg("--skip", default=None),
         arg("--out", default=None, help="results JSON (default bench/results/<machine>.json)"),
         arg("--readme", default=None, help="also rewrite this README's block between the bench markers"))
def _bench(args: argparse.Namespace) -> int:
    try:
        import bench.run as bench_run  # lazy: the suite imports LightGBM and trains models on first use
    except ModuleNotFoundError:
        from pathlib import Path

        root = Path(__file__).resolve().parent.parent
        if not (root / "bench" / "run.py").is_file():
            raise ModuleNotFoundError("smm-bench bench needs the source checkout (bench/ is not shipped in the "
                                      "wheel): clone the repository and run it from there", name="bench") from None
        sys.path.insert(0, str(root))
        import bench.run as bench_run
    opts = bench_run.build_parser().parse_args([])  # the suite's own defaults
    given = {k: v for k, v in vars(args).items() if k in vars(opts) and v is not None}
    vars(opts).update(given)
    flags = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in given.items())
    return bench_run.run(opts, f"smm-bench bench {flags}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smm-bench", description="SMM-Bench surrogate benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, arguments, fn) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        for names, kwargs in arguments:
            p.add_argument(*names, **kwargs)
        p.set_defaults(_fn=fn)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command line itself, for a command that reruns itself (--blas-kernel)
    try:
        return int(args._fn(args) or 0)
    except (ValueError, TypeError, OSError, NotImplementedError, ModuleNotFoundError) as e:
        from rich.markup import escape

        _console(stderr=True).print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
