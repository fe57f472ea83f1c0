"""In-process cases: the authors' loader vs our scenario on the same trees, per-call cost
through the public API, and batch throughput.

Every per-call measurement cycles through a pool of DIFFERENT configurations: a tree
ensemble answering the same row over and over keeps its few hot paths in cache and looks
2-3x faster than it is for an optimiser, which never repeats itself.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from .timing import measure, measure_pair

__all__ = ["same_model", "per_call", "batch_throughput"]

POOL = 256  # distinct rows / configs cycled through by the per-call timings


def _authors_predict(boosters, X: np.ndarray) -> np.ndarray:
    """The authors' loader: per file, mean over folds of CVBooster.predict, clipped to [0, 1]."""
    return np.stack([np.array(b.predict(X, num_threads=1)).mean(0).clip(0.0, 1.0) for b in boosters], axis=1)


def same_model(authors: Path, scenario: Path, space: str, batches: list[int], *, repeats: int, min_time: float,
               budget_s: float, log=print) -> dict:
    """Both loaders on the SAME model at each batch size: seconds per call, ratio, parity.

    A batch size is skipped (and says so) when its projected time, from the previous size's
    per-row cost, exceeds ``budget_s``: 1M rows through 20k trees is ~15 min per path here.
    """
    import lightgbm as lgb

    import smm_bench_plugin as smm

    from .models import AUTHOR_FILES, learner_rows

    boosters = [lgb.CVBooster(model_file=str(authors / f)) for f in AUTHOR_FILES]
    bench = smm.load(scenario)
    n_cat = len(bench.cat_names)
    rng = np.random.default_rng(1)
    trees = sum(len(b.boosters) * b.boosters[0].num_trees() for b in boosters)
    out = {"authors_folder": authors.name, "scenario": scenario.name, "total_trees": trees, "batches": []}
    per_row = None  # seconds per row of the slower path at the previous size
    for n in batches:
        projected = None if per_row is None else per_row * n * 2 * (repeats + 2)
        if projected is not None and projected > budget_s:
            out["batches"].append({"rows": n, "skipped": f"projected {projected:.0f} s > budget {budget_s:.0f} s "
                                                          "(raise --budget to run it)"})
            log(f"  batch {n}: skipped (projected {projected:.0f} s)")
            continue
        pool = max(1, min(POOL, 4096 // n))
        Xs = [learner_rows(space, n, rng) for _ in range(pool)]
        feeds = [((X[:, :n_cat] + 1).astype(np.int32), np.ascontiguousarray(X[:, n_cat:])) for X in Xs]
        ref, got = _authors_predict(boosters, Xs[0]), bench.evaluate_array(*feeds[0])
        err = float(np.abs(ref - got).max())
        nxt_x, nxt_f = itertools.cycle(Xs).__next__, itertools.cycle(feeds).__next__
        reps = repeats if n <= 10_000 else max(1, min(repeats, 3))
        ta, to = measure_pair(lambda: _authors_predict(boosters, nxt_x()), lambda: bench.evaluate_array(*nxt_f()),
                              repeats=reps, min_time=min_time)
        per_row = max(ta.median, to.median) / n
        row = {"rows": n, "authors_s": ta.as_json(), "ours_s": to.as_json(), "ratio": ta.median / to.median,
               "ours_rows_per_s": n / to.median, "authors_rows_per_s": n / ta.median, "max_abs_diff": err,
               "parity_ok": err <= 1e-12}
        out["batches"].append(row)
        log(f"  batch {n:>8}: authors {ta.median * 1e3:9.3f} ms  ours {to.median * 1e3:9.3f} ms  "
            f"ratio {row['ratio']:5.2f}x  parity {err:.1e}")
    return out


def per_call(bench, *, repeats: int, min_time: float) -> dict:
    """One configuration per call through the public API (dict in, floats out, validated),
    split into validation/encoding and the onnxruntime call to show where the time goes."""
    configs = [dict(c) for c in bench.configspace.sample_configuration(POOL)]
    encoded = [bench.encode([c]) for c in configs]
    nxt_c, nxt_e = itertools.cycle(configs).__next__, itertools.cycle(encoded).__next__
    objective = measure(lambda: bench.objective(nxt_c()), repeats=repeats, min_time=min_time)
    evaluate = measure(lambda: bench.evaluate(nxt_c()), repeats=repeats, min_time=min_time)
    encode = measure(lambda: bench.encode([nxt_c()]), repeats=repeats, min_time=min_time)
    # what objective() runs: objective.onnx if the scenario ships it, else the full graph
    graph = measure(lambda: bench._objective_values(*nxt_e()), repeats=repeats, min_time=min_time)
    full_graph = measure(lambda: bench._run(*nxt_e()), repeats=repeats, min_time=min_time)
    same = configs[0]
    hot = measure(lambda: bench.objective(same), repeats=repeats, min_time=min_time)
    return {"objective_us": objective.median * 1e6, "evaluate_us": evaluate.median * 1e6,
            "encode_validate_us": encode.median * 1e6, "onnxruntime_us": graph.median * 1e6,
            "onnxruntime_all_targets_us": full_graph.median * 1e6,
            "objective_graph": bench._objective_feed is not None,
            "same_config_repeated_us": hot.median * 1e6,
            "timings": {"objective": objective.as_json(), "evaluate": evaluate.as_json(), "encode": encode.as_json(),
                        "onnxruntime": graph.as_json(), "onnxruntime_all_targets": full_graph.as_json(),
                        "same_config": hot.as_json()}}


def batch_throughput(bench, rows: list[int], *, repeats: int, min_time: float, budget_s: float,
                     objective_only: bool = False) -> dict:
    """Rows/s of ``evaluate_array`` (every target) or, with ``objective_only``, of
    ``objective_array`` on one core (arrays of distinct sampled configurations)."""
    call = bench.objective_array if objective_only else bench.evaluate_array
    base = [dict(c) for c in bench.configspace.sample_configuration(1000)]
    xc, xo = bench.encode(base)
    out = []
    per_row = None
    for n in rows:
        if per_row is not None and per_row * n * (repeats + 2) > budget_s:
            out.append({"rows": n, "skipped": f"projected {per_row * n * (repeats + 2):.0f} s > budget {budget_s:.0f} s"})
            continue
        reps = -(-n // len(base))
        rng = np.random.default_rng(n)
        order = rng.permutation(reps * len(base))[:n]
        x_cat, x_cont = np.tile(xc, (reps, 1))[order], np.tile(xo, (reps, 1))[order]
        t = measure(lambda: call(x_cat, x_cont), repeats=repeats if n <= 10_000 else 3,
                    min_time=min_time)
        per_row = t.median / n
        out.append({"rows": n, "seconds": t.as_json(), "rows_per_s": n / t.median})
    return {"batches": out}
