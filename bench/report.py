"""Goals check and the tables of docs/performance.md, from a results dict."""

from __future__ import annotations

from pathlib import Path

__all__ = ["goals", "markdown"]


def _batch(case: dict, rows: int) -> dict | None:
    return next((b for b in case.get("batches", []) if b["rows"] == rows and "skipped" not in b), None)


def _best_rate(scenario: dict, key: str) -> float | None:
    """Highest rows/s over the batch sizes of a throughput case (``throughput`` / ``objective_throughput``)."""
    return max((b["rows_per_s"] for b in scenario.get(key, {}).get("batches", []) if "rows_per_s" in b), default=None)


def goals(results: dict) -> list[dict]:
    """The runtime's performance goals (per call, throughput, load, memory, parity with the authors'
    loader, the benchmark's share of a comparison), each with the measured value and whether it is met
    (None: not measured)."""
    out = []

    def add(goal: str, measured, met, where: str) -> None:
        out.append({"goal": goal, "measured": measured, "met": met, "where": where})

    from .models import SHAPES

    for name, sc in results["scenarios"].items():
        if "skipped" in sc:
            continue
        # per-call, throughput, load and RSS goals are the bundled scenarios'; the
        # paper-sized ensembles are there for the same-model comparison with the authors' loader
        bundled = name not in SHAPES
        pc = sc.get("per_call") if bundled else None
        if pc:
            add("single config via public API <= 50 us (1 thread)", round(pc["objective_us"], 1),
                pc["objective_us"] <= 50, name)
        sm = sc.get("same_model")
        if sm:
            for rows, need in ((1, 5.0), (10_000, 1.5)):
                b = _batch(sm, rows)
                if b:
                    add(f"ratio vs authors' path at {rows} rows >= {need}x", round(b["ratio"], 2), b["ratio"] >= need,
                        name)
            errs = [b["max_abs_diff"] for b in sm["batches"] if "max_abs_diff" in b]
            if errs:
                add("parity with the authors' path <= 1e-12", max(errs), max(errs) <= 1e-12, name)
        for key, what in (("throughput", "every target"), ("objective_throughput", "objective only")):
            best = _best_rate(sc, key)
            if best and bundled:
                add(f"batch throughput >= 200k rows/s (1 core), {what}", round(best), best >= 200_000, name)
        ld = sc.get("load")
        if ld and bundled:
            add("load <= 0.5 s", round(ld["load_s"], 3), ld["load_s"] <= 0.5, name)
            add("peak RSS <= 150 MB (load + objective())", round(ld["peak_rss_mb"], 1), ld["peak_rss_mb"] <= 150, name)
    share = ((results.get("compare") or {}).get("recorded_by_compare") or {}).get("benchmark_share")
    if share is not None:
        add("smm-bench compare defaults: benchmark share of wall time <= 10%", round(share, 4), share <= 0.10, "-")
    imp = results.get("import")
    if imp:
        add("import smm_bench_plugin <= 0.3 s", round(imp["median_s"], 3), imp["median_s"] <= 0.3, "-")
        add("import pulls in no torch/transformers/lightgbm/optuna", imp["heavy_modules_imported"] or "none",
            not set(imp["heavy_modules_imported"]) & {"torch", "transformers", "lightgbm", "optuna"}, "-")
    return out


def _fmt_ms(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def markdown(results: dict) -> str:
    """Tables for docs/performance.md, machine line first."""
    m = results["machine"]
    v = m["versions"]
    lines = [f"Measured {results['when']} on {m['cpu_model']}, {m['logical_cores']} logical cores, "
             f"{m['memory_gb']} GB, load average {m['load_average_at_start']} at start; Python {m['python']}, "
             f"onnxruntime {v.get('onnxruntime')}, LightGBM {v.get('lightgbm')}, numpy {v.get('numpy')}; "
             f"1 thread everywhere; commit {m['git_commit']}. Command: `{results['command']}`.", ""]
    rows = []
    for name, sc in results["scenarios"].items():
        sm = sc.get("same_model")
        if not sm:
            continue
        for b in sm["batches"]:
            if "skipped" in b:
                rows.append(f"| {name} ({sm['total_trees']} trees) | {b['rows']:,} | skipped: {b['skipped']} | | | |")
            else:
                rows.append(f"| {name} ({sm['total_trees']} trees) | {b['rows']:,} | "
                            f"{_fmt_ms(b['authors_s']['median_s'])} | {_fmt_ms(b['ours_s']['median_s'])} | "
                            f"**{b['ratio']:.2f}x** | {b['max_abs_diff']:.1e} |")
    if rows:
        lines += ["Same model, authors' loader (`lgb.CVBooster(model_file).predict`, fold mean, clip; both "
                  "target files) vs our scenario (`evaluate_array`), per call:", "",
                  "| scenario | rows | authors | ours | speed-up | max abs diff |", "|---|---|---|---|---|---|", *rows, ""]
    rows = []
    for name, sc in results["scenarios"].items():
        if "skipped" in sc:
            rows.append(f"| {name} | skipped: {sc['skipped']} | | | | | |")
            continue
        pc, ld = sc.get("per_call", {}), sc.get("load", {})
        if not pc and not ld and not sc.get("throughput"):  # only other cases ran (e.g. compiled)
            continue

        def best(key: str) -> str:
            b = _best_rate(sc, key)
            return "-" if b is None else f"{b:,.0f}"

        nan = float("nan")
        rows.append(f"| {name} | {pc.get('objective_us', nan):.1f} µs | {pc.get('encode_validate_us', nan):.1f} µs | "
                    f"{pc.get('onnxruntime_us', nan):.1f} µs{'' if pc.get('objective_graph') else ' (full graph)'} | "
                    f"{pc.get('evaluate_us', nan):.1f} µs | {best('throughput')} | {best('objective_throughput')} | "
                    f"{ld.get('load_s', nan):.3f} s ({ld.get('first_evaluate_s', nan):.3f} s) | "
                    f"{ld.get('peak_rss_mb', nan):.0f} MB / {ld.get('peak_rss_evaluate_mb', nan):.0f} MB "
                    f"({ld.get('peak_rss_with_configspace_mb', nan):.0f} MB) |")
    if rows:  # none when only the external cases ran
        lines += ["Public API per call (`Benchmark.objective(dict)`, validated, distinct configs per call; it runs "
                  "`objective.onnx` when the scenario ships one, else the full graph) and `evaluate(dict)` (every target); "
                  "batch throughput of `evaluate_array` (every target) and `objective_array`; a fresh process's load "
                  "time (its first `evaluate()`, which opens `model.onnx` where the scenario ships `objective.onnx`) "
                  "and peak RSS after one `objective()` / after a first `evaluate()` too (and `Benchmark.configspace`):",
                  "",
                  "| scenario | objective() | of which validation | of which onnxruntime | evaluate() | rows/s, every "
                  "target | rows/s, objective | load (first evaluate()) | peak RSS: objective() / evaluate() "
                  "(with ConfigSpace) |",
                  "|---|---|---|---|---|---|---|---|---|", *rows, ""]
    lines += compiled_lines(results)
    imp = results.get("import")
    if imp:
        lines += [f"`import smm_bench_plugin`: {imp['median_s'] * 1e3:.0f} ms (fresh interpreter, median); heavy "
                  f"modules imported: {', '.join(imp['heavy_modules_imported']) or 'none'}.", ""]
    for key, label in (("yahpo", "YAHPO Gym per call"), ("compare", "smm-bench compare")):
        val = results.get(key)
        if isinstance(val, dict) and "skipped" in val:
            lines.append(f"- {label}: skipped ({val['skipped']}).")
        elif isinstance(val, dict):
            lines.append(f"- {label}: " + ", ".join(f"{k} {_short(v)}" for k, v in val.items()
                                                   if k not in ("stdout_tail", "stderr_tail", "python")))
    if "mini_engines" in results:
        from .mini_engine import markdown as mini_markdown

        lines += ["", *mini_markdown(results["mini_engines"])]
    g = results.get("goals", [])
    if g:
        lines += ["", "| performance goal | where | measured | met |", "|---|---|---|---|"]
        lines += [f"| {x['goal']} | {x['where']} | {x['measured']} | {'yes' if x['met'] else 'no'} |" for x in g]
    return "\n".join(lines) + "\n"


def compiled_lines(results: dict) -> list[str]:
    """The compiled-evaluator table (``bench.compiled_cases``) and its verdict, per bundled scenario."""
    cases = {n: sc["compiled"] for n, sc in results["scenarios"].items() if isinstance(sc.get("compiled"), dict)}
    if not cases:
        return []
    lines = ["Compiled tree evaluators beside onnxruntime on each scenario's own objective trees (rebuilt with LightGBM "
             "from its rows and tuned parameters, equal to `objective.onnx` to ≤ 1e-12), on the learner features: "
             "onnxruntime runs the scenario's TreeEnsemble node alone; tl2cgen (treelite → C → gcc) and lleaves (LLVM) "
             "are called through their compiled symbol by ctypes at one row (their Python `predict` in brackets) "
             "and through their Python `predict` at 10,000 rows; time per call, "
             "interleaved, 1 thread; parity = max |x − LightGBM| over sampled rows and rows placed exactly on split "
             "thresholds:", "",
             "| scenario | rows | LightGBM | onnxruntime | tl2cgen | lleaves | speed-up vs onnxruntime: tl2cgen / "
             "lleaves | parity: onnxruntime / tl2cgen / lleaves |", "|---|---|---|---|---|---|---|---|"]
    skipped = []
    for name, c in cases.items():
        if "skipped" in c:
            skipped.append(f"- {name}: compiled evaluators skipped ({c['skipped']}).")
            continue
        missing = c.get("not_compiled", {})
        parity = {k: (f"{max(p[k] for p in c['parity'].values()):.1e}" if k not in missing else "—")
                  for k in ("onnxruntime", "tl2cgen", "lleaves")}
        for b in c["batches"]:
            t = {k: v["median_s"] for k, v in b["seconds"].items()}
            sp = b["speedup_vs_onnxruntime"]

            def cell(key: str) -> str:
                if key in missing:
                    return missing[key]
                public = t.get(f"{key}_public")
                return _fmt_ms(t[key]) + (f" ({_fmt_ms(public)})" if public else "")

            def ratio(key: str) -> str:
                return "—" if key in missing else f"{sp[key]:.2f}x"

            lines.append(f"| {name} ({c['trees']:,} trees, {c['features']} features) | {b['rows']:,} | "
                         f"{_fmt_ms(t['lightgbm'])} | {_fmt_ms(t['onnxruntime'])} | {cell('tl2cgen')} | {cell('lleaves')} | "
                         f"**{ratio('tl2cgen')} / {ratio('lleaves')}** | {parity['onnxruntime']} / "
                         f"{parity['tl2cgen']} / {parity['lleaves']} |")
    lines += [""] + skipped
    for name, c in cases.items():
        if "skipped" in c:
            continue
        e = c["end_to_end"]["us"]
        chains = {k.split("+", 1)[1]: v for k, v in e.items() if k.startswith("features+")}
        diffs = c["end_to_end"]["max_abs_diff_vs_objective_onnx"]
        lines.append(f"- {name}: `objective.onnx` at one row {e['objective.onnx']:.1f} µs, of which its feature nodes "
                     f"(clip, codes, derived features) alone {e['features_only']:.1f} µs"
                     + ("; feature nodes + compiled trees: " + ", ".join(f"{k} {v:.1f} µs" for k, v in chains.items())
                        + f" (max diff to `objective.onnx` {max(diffs.values()):.1e})" if chains else "")
                     + ". First compilation (cached after): " + ", ".join(
                         [f"{k} {v:.0f} s" for k, v in c["compile_seconds"].items()]
                         + [f"{k} {why}" for k, why in c.get("not_compiled", {}).items()])
                     + ". " + _verdict_sentence(c["verdict"]))
    return lines + [""]


def _verdict_sentence(verdict: dict) -> str:
    from .compiled_cases import GOAL_PARITY, GOAL_SPEEDUP

    parts = [f"{k} qualifies (trees {v['speedup_1_row']:.2f}x, call {v['objective_call_speedup']:.2f}x, parity "
             f"{v['parity']:.1e})" if v["qualifies"] else f"{k} does not ({'; '.join(v['why_not'])})"
             for k, v in verdict.items()]
    return (f"Verdict (≥ {GOAL_SPEEDUP:.0f}x at 1 row on the trees and on the objective call, parity ≤ "
            f"{GOAL_PARITY:.0e}): " + "; ".join(parts) + ".")


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    return str(v)


README_BEGIN = "<!-- bench:begin"
README_END = "<!-- bench:end -->"


def update_readme(readme: Path, md: str) -> None:
    """Replace a document's generated block (between the bench markers) by this run's tables.

    Why: the performance figures must be the output of a command, pasted by the command
    itself; the hand-written reading of them stays outside the markers.
    """
    text = readme.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{readme} has no '{README_BEGIN} ... {README_END}' block to rewrite")
    head_end = text.index("\n", begin) + 1  # keep the begin marker's line as written
    readme.write_text(text[:head_end] + md.strip() + "\n" + text[end:])
