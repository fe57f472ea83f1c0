"""``smm-bench`` command line.

Each sub-command is one function registered with :func:`command`; it receives the parsed
arguments and returns an exit code. Heavy modules (optimiser libraries, matplotlib) are
imported inside the function, so ``smm-bench list`` stays fast. The runtime never imports the
layers above it: ``collect`` and ``train`` live in their own packages and register through the
entry point group :data:`COMMAND_GROUP` (``smm_bench_collection.commands``,
``smm_bench_surrogates.commands``). The performance suite is ``python -m bench`` in a source
checkout. To add one::

    @command("compare", "compare optimisers on a scenario", arg("scenario"), arg("--budget", type=int))
    def _compare(args) -> int:
        from .compare import main  # lazy
        return main(args)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from .paths import DEFAULT_SCENARIO

__all__ = ["main", "command", "arg", "console", "pin_kernel_of", "BLAS_KERNEL_ARG", "COMMAND_GROUP"]

#: Entry point group through which the heavier layers add their sub-commands (``collect`` from
#: the collection, ``train`` from the surrogate layer): each entry point names a module whose
#: import registers its commands with :func:`command`.
COMMAND_GROUP = "smm_bench_plugin.commands"

_COMMANDS: dict[str, tuple[str, tuple[tuple[tuple, dict], ...], Callable[[argparse.Namespace], int]]] = {}
_EXTRAS: dict[str, str] = {}  # command -> the extra it needs, named when an import fails


def arg(*names: str, **kwargs: Any) -> tuple[tuple, dict]:
    """An ``add_argument`` call, recorded for :func:`command`."""
    return names, kwargs


def command(name: str, help: str, *arguments: tuple[tuple, dict], extra: str | None = None):
    """Register ``fn(args) -> int`` as sub-command ``name``; ``extra``: the package extra it needs."""
    def register(fn: Callable[[argparse.Namespace], int]):
        _COMMANDS[name] = (help, arguments, fn)
        if extra:
            _EXTRAS[name] = extra
        return fn
    return register


def _load_plugin_commands() -> None:
    """Import the modules of the :data:`COMMAND_GROUP` entry points (they register themselves)."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        if ep.name not in _COMMANDS:
            ep.load()


BLAS_KERNEL_ARG = arg("--blas-kernel", metavar="K", default=None,
                      help="run on this OpenBLAS kernel (e.g. Haswell, SkylakeX) by rerunning under "
                           "OPENBLAS_CORETYPE=K: CMA-ES and CatCMA draw differently on different kernels "
                           "(smm_bench_plugin.blas)")


def pin_kernel_of(args: argparse.Namespace) -> int | None:
    """With ``--blas-kernel K``, the exit status of this command rerun on kernel K (None: go on here)."""
    if not args.blas_kernel:
        return None
    from .blas import pin_kernel

    return pin_kernel(args.blas_kernel, "smm_bench_plugin.cli", args.argv)


#: Largest configuration input (--config file or stdin): 100,000 DFS configurations are ~250 MB of JSON.
MAX_INPUT_BYTES = 1 << 30


def console(stderr: bool = False):
    from rich.console import Console

    if not stderr and sys.stdout is None:  # rich would write to nowhere and the command would "succeed"
        raise OSError("cannot write the output: standard output is closed")
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _write_stdout(text: str) -> None:
    """Write and flush now, so a full disk or a closed pipe is this command's error, not a shutdown message."""
    if sys.stdout is None:
        raise OSError("cannot write the output: standard output is closed")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        raise OSError(f"cannot write the output: {e.strerror or e}") from None


def _read_input(config_file: str | None) -> tuple[str | bytes, str]:
    """(text, where it came from) of the configuration input: ``--config FILE`` or stdin."""
    from .files import NotRegularFileError, read_text

    if config_file:
        try:
            return read_text(config_file, MAX_INPUT_BYTES), f"--config {config_file}"
        except NotRegularFileError as e:
            raise NotRegularFileError(f"--config {e}; to pass JSON through a pipe, leave out --config and write it "
                                      "to standard input") from None
    if sys.stdin is None:
        raise ValueError("no configuration given: standard input is closed; pass --config FILE or pipe JSON in")
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"standard input: more than the {MAX_INPUT_BYTES:,} bytes allowed; use several calls")
    return data, "standard input"


@command("list", "list the installed scenarios (bundled and user data dir)")
def _list(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from .paths import scenario_entries, user_scenarios_dir

    entries = scenario_entries()
    con = console()
    if not entries:
        con.print(f"no scenarios installed (user folder: {user_scenarios_dir()}); "
                  "import the authors' files with: smm-bench import-lightgbm DIR --space ps|dfs", markup=False)
        return 0
    table = Table("name", "source", "path")
    for e in entries:
        table.add_row(Text(e.name), Text(e.source), Text(str(e.path)))  # Text: names and paths are not markup
    con.print(table)
    return 0


@command("info", "show a scenario's metadata: targets, held-out quality, versions",
         arg("name", help="scenario name or folder"),
         arg("--json", action="store_true", help="print the whole meta.json instead"))
def _info(args: argparse.Namespace) -> int:
    from .kinds import load

    bench = load(args.name)
    m = bench.meta
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    from rich.markup import escape

    con = console()
    con.print(f"[bold]{escape(bench.name)}[/bold]  {escape(str(m.get('description', '')))}")
    lines = [f"path: {bench.path}",
             f"space: {m.get('space')}  ({len(bench.cat_names)} categorical + {len(bench.cont_names)} continuous)",
             *(f"target {t.name}: role={t.role} range=[{t.lower}, {t.upper}] {t.description}" for t in bench.targets),
             "library versions: " + ", ".join(f"{k} {v}" for k, v in (m.get("library_versions") or {}).items()),
             *(f"cite: {c}" for c in bench.citation)]
    for line in lines:  # data, printed as is: a path or a description may contain [brackets]
        con.print(line, markup=False)
    quality = _quality_table((m.get("quality") or {}).get("targets") or {})
    if quality is not None:
        con.print(quality)
    con.print("(smm-bench info --json prints the whole meta.json)", markup=False)
    return 0


def _quality_table(targets: dict[str, dict]):
    """Held-out quality per target, one row each, with the noise ceilings where recorded."""
    if not targets:
        return None
    from rich.table import Table

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    table = Table("target", "role", "R²", "ceiling", "tau", "ceiling", "rows", "model",
                  title="held-out quality; ceiling: what the items' sampling noise allows")
    for name, q in targets.items():
        table.add_row(name, str(q.get("role", "")), fmt(q.get("r2")), fmt(q.get("noise_ceiling_r2")),
                      fmt(q.get("kendall_tau")), fmt(q.get("noise_ceiling_tau")), str(q.get("n", "-")),
                      str(q.get("ensemble", "-")))
    return table


@command("evaluate", "predict the targets of configurations (JSON: one object or a list)",
         arg("name", help="scenario name or folder"),
         arg("--config", help="JSON file (default: read JSON from stdin)"))
def _evaluate(args: argparse.Namespace) -> int:
    from .kinds import load
    from .files import parse_json

    text, source = _read_input(args.config)
    configs = parse_json(text, f"configuration input ({source})")
    bench = load(args.name)
    _write_stdout(json.dumps(bench.evaluate(configs if isinstance(configs, list) else [configs])) + "\n")
    return 0


@command("import-lightgbm", "import the authors' LightGBM surrogate files as scenario smm_ps / smm_dfs",
         arg("dir", help="folder with train_acc_ja_best_model.json, test_acc_ja_best_model.json, label.json"),
         arg("--space", required=True, choices=("ps", "dfs")),
         arg("--name", default=None, help="scenario name (default smm_<space>)"),
         arg("--force", action="store_true", help="replace an existing scenario of that name"))
def _import_lightgbm(args: argparse.Namespace) -> int:
    from .importer import import_lightgbm

    path = import_lightgbm(args.dir, args.space, name=args.name, force=args.force)
    console().print(f"imported scenario {path.name} -> {path}")
    return 0


@command("upgrade-scenario", "bring scenario folders to the current format in place (no retraining; predictions "
         "are checked bit for bit before anything is written; needs the onnx extra)",
         arg("names", nargs="+", help="scenario names or folders"),
         arg("--check-rows", type=int, default=10_000, help="random rows on which old and new graphs must agree"))
def _upgrade_scenario(args: argparse.Namespace) -> int:
    from .paths import resolve_scenario
    from .upgrade import upgrade_scenario

    con = console()
    for name in args.names:
        done = upgrade_scenario(resolve_scenario(name), check_rows=args.check_rows)
        if done.rows_checked == 0:
            con.print(f"{done.folder}: already format {done.to_version} (verified)", markup=False)
            continue
        changed = ", ".join(f"{f} sha256 {old[:12]}... -> {new[:12]}..." for f, (old, new) in done.sha256.items())
        con.print(f"{done.folder}: format {done.from_version} -> {done.to_version}; {changed}; predictions "
                  f"bit-identical on {done.rows_checked:,} rows", markup=False)
    return 0


@command("compare", "compare optimisers on a scenario: table, best-so-far PNG, trajectories",
         arg("--scenario", default=DEFAULT_SCENARIO, help=f"scenario name or folder (default {DEFAULT_SCENARIO})"),
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
         arg("--force", action="store_true", help="write into an --out that holds an earlier comparison's results"),
         BLAS_KERNEL_ARG)
def _compare(args: argparse.Namespace) -> int:
    if args.jobs < 0:
        raise ValueError(f"--jobs must be 0 (one process per core, at most 8) or a number of processes, got {args.jobs}")
    pinned = pin_kernel_of(args)
    if pinned is not None:
        return pinned
    from .compare import check_out_folder  # lazy: optimiser libraries, matplotlib
    from .compare_setup import is_multifidelity

    check_out_folder(args)  # before the runs, not after
    if is_multifidelity(args.scenario):
        from .mf_compare import main as compare_main  # a budget of simulated seconds, per-evaluation fidelities
    else:
        from .compare import main as compare_main
    return compare_main(args)


@command("verify", "evaluate each compare run's best configuration for real: surrogate value beside true value",
         arg("run_dir", help="the --out folder of `smm-bench compare` (reads best_configs.json, writes verified.json)"),
         arg("--store", default=None, help="result store of the true evaluations (default: live/<scenario> in the "
                                           "data dir); configurations already there are not evaluated again"),
         arg("--quiet", action="store_true", help="no progress lines"))
def _verify(args: argparse.Namespace) -> int:
    from .verify import main as verify_main  # lazy: the collection layer, torch

    return verify_main(args)


@command("to-carps", "write a compare output folder as carps run folders (carps' gather_data makes logs.parquet)",
         arg("run_dir", help="the --out folder of `smm-bench compare`"),
         arg("--out", default=None, help="where the carps run folders go (default RUN_DIR/carps)"))
def _to_carps(args: argparse.Namespace) -> int:
    from .carps_logs import main as carps_logs_main

    return carps_logs_main(args)


def build_parser() -> argparse.ArgumentParser:
    _load_plugin_commands()
    from . import __version__

    parser = argparse.ArgumentParser(prog="smm-bench", description="SMM-Bench surrogate benchmarks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, arguments, fn) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        for names, kwargs in arguments:
            p.add_argument(*names, **kwargs)
        p.set_defaults(_fn=fn)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a problem with the input, the files or the output is one ``error:`` line and exit 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command line itself, for a command that reruns itself (--blas-kernel)
    try:
        if sys.stdout is None:
            raise OSError("standard output is closed; nothing was done (redirect it to a file or /dev/null)")
        code = int(args._fn(args) or 0)
        _write_stdout("")  # a pending write error surfaces here, as this command's error
        return code
    except (ValueError, TypeError, OSError, NotImplementedError, ModuleNotFoundError) as e:
        _discard_pending_output()
        if sys.stderr is not None:
            from rich.markup import escape

            message = " ".join(str(e).split())  # one line, whatever the exception held
            if isinstance(e, ModuleNotFoundError) and args.command in _EXTRAS:
                message += (f" (smm-bench {args.command} needs: pip install "
                            f"'smm-bench-plugin[{_EXTRAS[args.command]}]')")
            console(stderr=True).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
        return 1


def _discard_pending_output() -> None:
    """After a failed write, point stdout at /dev/null so the interpreter's final flush cannot fail again
    (it would print a traceback-like message and exit 120)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


if __name__ == "__main__":
    # the installed module, not this __main__ copy: the plugin commands register with that one
    from smm_bench_plugin.cli import main as _main

    sys.exit(_main())
