"""``python -m bench``: run the cases, print ratios, write JSON + Markdown.

Scenarios are named on the command line. A name in ``bench.models.SHAPES`` (``paper_ps``,
``paper_dfs``) is a synthetic authors' release of the paper's size, trained once and cached,
and gets the same-model comparison with LightGBM; any other name is looked up among the
installed scenarios (bundled ``smm_ps_mini`` / ``smm_dfs_mini`` once they exist) and is
skipped, with the reason, when absent.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIOS = "paper_ps,paper_dfs,smm_ps_mini,smm_dfs_mini"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The suite's options (``python -m bench --help``)."""
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS, help=f"comma-separated (default {DEFAULT_SCENARIOS})")
    p.add_argument("--batches", default="1,100,10000,1000000", help="row counts of the same-model comparison")
    p.add_argument("--repeats", type=int, default=7, help="repeats per timing (median reported)")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per repeat (calls are looped)")
    p.add_argument("--budget", type=float, default=300.0,
                   help="skip a batch size whose projected time exceeds this many seconds")
    p.add_argument("--quick", action="store_true", help="3 repeats, batches up to 10k, no external cases")
    p.add_argument("--skip", default="", help="comma-separated cases to skip: same_model,per_call,throughput,"
                                              "compiled,load,import,yahpo,compare,mini")
    p.add_argument("--mini-configs", type=int, default=8,
                   help="mini case: configurations per batch-size point (the engine pair takes up to 4 of them)")
    p.add_argument("--mini-batches", default="1,4,16,64", help="mini case: batch sizes G of version 3's sweep")
    p.add_argument("--out", default=None, help="results JSON (default bench/results/<machine>.json)")
    p.add_argument("--doc", "--readme", dest="doc", default=None,
                   help="also rewrite this document's block between the bench markers (docs/performance.md)")


def _log(msg: str) -> None:
    print(msg, flush=True)


def _scenario(name: str, skip: set[str], args, batches: list[int]) -> tuple[dict, Path | None]:
    import smm_bench_plugin as smm

    from . import process_cases, runtime_cases
    from .models import SHAPES, imported_scenario

    res: dict = {}
    if name in SHAPES:
        shape = SHAPES[name]
        authors, path = imported_scenario(shape, log=_log)
        res["shape"] = shape.__dict__
        if "same_model" not in skip:
            _log(f"[{name}] same model: authors' loader vs ours")
            res["same_model"] = runtime_cases.same_model(authors, path, shape.space, batches, repeats=args.repeats,
                                                         min_time=args.min_time, budget_s=args.budget, log=_log)
    else:
        try:
            path = smm.load(name).path
        except FileNotFoundError:
            return {"skipped": f"scenario {name!r} is not installed"}, None
    bench = smm.load(path)
    if "per_call" not in skip:
        res["per_call"] = runtime_cases.per_call(bench, repeats=args.repeats, min_time=args.min_time)
        pc = res["per_call"]
        _log(f"[{name}] objective(dict) {pc['objective_us']:.1f} us = validation {pc['encode_validate_us']:.1f} us "
             f"+ onnxruntime {pc['onnxruntime_us']:.1f} us (same config repeated: {pc['same_config_repeated_us']:.1f} us)")
    if "throughput" not in skip and "same_model" not in res:
        res["throughput"] = runtime_cases.batch_throughput(bench, [b for b in batches if b >= 100], repeats=args.repeats,
                                                           min_time=args.min_time, budget_s=args.budget)
        if bench._objective_feed is not None:
            res["objective_throughput"] = runtime_cases.batch_throughput(
                bench, [b for b in batches if b >= 100], repeats=args.repeats, min_time=args.min_time,
                budget_s=args.budget, objective_only=True)
    elif "same_model" in res:
        res["throughput"] = {"batches": [{"rows": b["rows"], "rows_per_s": b["ours_rows_per_s"]}
                                         for b in res["same_model"]["batches"] if "ours_rows_per_s" in b]}
    if "compiled" not in skip and name not in SHAPES:
        from . import compiled_cases

        missing = compiled_cases.missing_packages()
        if missing:
            res["compiled"] = {"skipped": f"{', '.join(missing)} not installed (pip install -e '.[bench-compiled]')"}
        elif bench._objective_feed is None:
            res["compiled"] = {"skipped": "the scenario ships no objective.onnx"}
        else:
            _log(f"[{name}] compiled tree evaluators beside onnxruntime")
            res["compiled"] = compiled_cases.compiled_evaluators(bench, repeats=args.repeats, min_time=args.min_time,
                                                                 log=_log)
    if "load" not in skip:
        res["load"] = process_cases.load_cost(path)
        ld = res["load"]
        _log(f"[{name}] load {ld['load_s']:.3f} s, peak RSS {ld['peak_rss_mb']:.0f} MB (model {ld['model_mb']:.1f} MB)")
    return res, path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run(build_parser().parse_args(argv), "python -m bench " + " ".join(argv))


def run(args: argparse.Namespace, command: str) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from . import external_cases, process_cases, report
    from .machine import describe, slug
    from .models import CACHE_DIR

    if args.mini_configs < 1:
        raise SystemExit(f"--mini-configs must be at least 1, got {args.mini_configs}")
    skip = {s for s in args.skip.split(",") if s}
    batches = [int(b) for b in args.batches.split(",") if b]
    if args.quick:
        args.repeats = min(args.repeats, 3)
        args.min_time = min(args.min_time, 0.05)
        batches = [b for b in batches if b <= 10_000]
        skip |= {"yahpo", "compare", "mini", "compiled"}
    machine = describe(REPO)
    results: dict = {"when": _dt.datetime.now().isoformat(timespec="seconds"), "machine": machine,
                     "command": command.strip(),
                     "settings": {"repeats": args.repeats, "min_time_s": args.min_time, "batches": batches,
                                  "budget_s": args.budget, "skip": sorted(skip)},
                     "scenarios": {}}
    names = [s for s in args.scenarios.split(",") if s]
    from .models import SHAPES

    available = []  # installed names usable by the YAHPO / compare cases (bundled ones first)
    for name in names:
        res, path = _scenario(name, skip, args, batches)
        results["scenarios"][name] = res
        if path is not None:
            available.append(SHAPES[name].key if name in SHAPES else name)
    if "import" not in skip:
        results["import"] = process_cases.import_cost()
        _log(f"import smm_bench_plugin: {results['import']['median_s'] * 1e3:.0f} ms, heavy modules: "
             f"{results['import']['heavy_modules_imported'] or 'none'}")
    data_dir = CACHE_DIR / "data"
    shape_keys = {s.key for s in SHAPES.values()}
    available.sort(key=lambda n: n in shape_keys)
    target = available[0] if available else None
    if "yahpo" not in skip:
        results["yahpo"] = external_cases.yahpo_per_call(target, data_dir, args.repeats) if target else \
            {"skipped": "no scenario available"}
        _log(f"yahpo: {results['yahpo']}")
    if "compare" not in skip:
        results["compare"] = external_cases.compare_share(target, data_dir) if target else \
            {"skipped": "no scenario available"}
        _log(f"compare: {results['compare'].get('skipped') or results['compare']}")
    if "mini" not in skip:
        from .mini_engine import mini_engines

        results["mini_engines"] = mini_engines(pair_configs=min(4, args.mini_configs), sweep_configs=args.mini_configs,
                                               batches=tuple(int(b) for b in args.mini_batches.split(",") if b),
                                               log=_log)
    results["goals"] = report.goals(results)
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"{slug(machine)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = report.markdown(results)
    out.with_suffix(".md").write_text(md)
    if args.doc:
        report.update_readme(Path(args.doc), md)
    print()
    print(md)
    _log(f"results: {out} (+ {out.with_suffix('.md').name})")
    return 0
