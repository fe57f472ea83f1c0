"""The mini family's true evaluation: engine version 3 (batched) against version 2, on one core.

    python -m bench --scenarios '' --skip same_model,per_call,throughput,load,import,yahpo,compare \\
        --out bench/results/mini-engine.json          # this case alone, from the repository root

Per space (``mini_engines``):

* both engines timed interleaved on the same configurations (merge / generate / judge apart),
  with whether they give the same per-item bits: their ratio is the figure that transfers to
  another machine;
* seconds per configuration of version 3 by batch size G (1, 4, 16, 64 configurations per
  ``evaluate_batch`` call), each G in a fresh process, with its peak resident memory (a batch of
  64 is decoded in groups whose caches fit ``evaluate.MAX_BATCH_BYTES``);
* the arithmetic floor: the model's matrix-product FLOPs per configuration, counted from its
  shapes and the tokens actually decoded, at the GFLOP/s one core reaches on a large float32
  matrix product measured in the same run, and the share of it each engine reaches;
* configurations per hour on 2 cores (two collection processes, one core each) for both engines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "collection" / "mini" / "models"
NEEDS = {"ps": ("base", "ja", "math"), "dfs": ("A", "ja")}
PHASES = ("merge", "generate", "judge")


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one ``n``-square float32 matrix product on one thread (median of ``repeats``)."""
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def model_flops(evaluator, depth: int, answers: list[list[int]]) -> float:
    """Matrix-product FLOPs of one configuration's evaluation, from the model's shapes.

    Every prompt token and every answer token fed back passes ``depth`` layers: q/k/v, o, gate/up
    and down projections, and attention over the positions up to it (scores and weighted sum);
    lm_head once per chosen token. A row that stops feeds back its answer's tokens; one that
    hits the budget all but its last. Element-wise work (norms, rotary, softmax) is not counted.
    """
    ref = evaluator._batched.reference if evaluator.engine == "batched" else evaluator._fast
    H, K, d = ref.n_heads, ref.n_kv, ref.head_dim
    D, V = ref.embed.shape[1], ref.lm_head.shape[0]
    inter = evaluator._ps_layers[0].down.shape[1] if evaluator.space == "ps" else \
        evaluator._dfs_layers["A"][0].down.shape[1]
    linear = 2 * D * (H + 2 * K) * d + 2 * H * d * D + 2 * D * 2 * inter + 2 * inter * D
    budget = evaluator.family.max_new_tokens
    rows = evaluator._rows["objective"] + evaluator._rows["test"]
    total = 0.0
    for prompt, answer in zip(rows, answers):
        fed = len(prompt) + min(len(answer), budget - 1)
        keys = fed * (fed + 1) / 2  # token at position t attends t + 1 positions
        total += depth * (fed * linear + 2 * 2 * H * d * keys)
        total += (1 + min(len(answer), budget - 1)) * 2 * D * V
    return total


def _bits(result) -> list:
    return [getattr(part, flag).tolist() for part in (result.objective, result.test)
            for flag in ("correct", "number_ok", "japanese_ok")]


def _phases(results) -> dict[str, float]:
    return {k: float(np.mean([r.timings[k] for r in results])) for k in PHASES}


def _depth(space: str, config) -> int:
    from smm_bench_collection.dfs import dfs_config_to_path
    from smm_bench_collection.evaluate import N_LAYERS

    return N_LAYERS if space == "ps" else len(dfs_config_to_path(config)[0])


def engine_pair(space: str, n_configs: int, repeats: int, gflops: float) -> dict:
    """Versions 3 and 2 timed interleaved on the same ``n_configs`` random configurations."""
    import torch

    from smm_bench_collection.evaluate import MergeEvaluator
    from smm_bench_collection.family import mini_family
    from smm_bench_collection.samplers import make_sampler

    torch.set_num_threads(1)
    family = mini_family(MODELS)
    new, old = MergeEvaluator(space, family), MergeEvaluator(space, family, engine="fast")
    configs = make_sampler("random", space, 0, batch_size=n_configs).ask()
    new.evaluate_batch(configs[:1]), old.evaluate(configs[0])  # warm-up: the judge's language model loads
    runs = {"new": [], "old": []}
    same = True
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = new.evaluate_batch(configs)
        runs["new"].append((time.perf_counter() - t0, a))
        t0 = time.perf_counter()
        b = [old.evaluate(c) for c in configs]
        runs["old"].append((time.perf_counter() - t0, b))
        same &= [_bits(r) for r in a] == [_bits(r) for r in b]
    seconds = {k: statistics.median(t for t, _ in v) / n_configs for k, v in runs.items()}
    flops = [model_flops(new, _depth(space, c), new.answer_tokens(c)) for c in configs]
    floor = float(np.mean(flops)) / (gflops * 1e9)
    return {"configs": n_configs, "repeats": repeats, "same_bits": bool(same),
            "new_s": seconds["new"], "old_s": seconds["old"], "speedup": seconds["old"] / seconds["new"],
            "new_phases_s": _phases(runs["new"][-1][1]), "old_phases_s": _phases(runs["old"][-1][1]),
            "gflop_per_config": float(np.mean(flops)) / 1e9, "floor_s": floor,
            "floor_share_new": floor / seconds["new"], "floor_share_old": floor / seconds["old"],
            "configs_per_hour_2_cores_new": 2 * 3600 / seconds["new"],
            "configs_per_hour_2_cores_old": 2 * 3600 / seconds["old"]}


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def sweep_point(space: str, batch: int, n_configs: int, device: str = "cpu") -> dict:
    """Version 3 on ``n_configs`` random configurations (repeated up to ``batch``) in batches of
    ``batch``: seconds per configuration by phase, and this process's peak RSS."""
    import torch

    from smm_bench_collection.evaluate import MergeEvaluator
    from smm_bench_collection.family import mini_family
    from smm_bench_collection.samplers import make_sampler

    torch.set_num_threads(1)
    ev = MergeEvaluator(space, mini_family(MODELS), device=device)
    configs = make_sampler("random", space, 0, batch_size=n_configs).ask()
    todo = (configs * (batch // n_configs + 1))[: max(batch, n_configs)]
    ev.evaluate_batch(configs[:1])  # warm-up: the judge's language model loads
    results, t0 = [], time.perf_counter()
    for start in range(0, len(todo), batch):
        results += ev.evaluate_batch(todo[start:start + batch])
    wall = time.perf_counter() - t0
    return {"batch": batch, "configs": len(todo), "s_per_config": wall / len(todo), **_phases(results),
            "peak_rss_mb": _peak_rss_mb()}


def batch_sweep(space: str, batches: list[int], n_configs: int) -> list[dict]:
    """``sweep_point`` for each batch size, each in a fresh process (clean peak RSS)."""
    out = []
    for b in batches:
        res = subprocess.run([sys.executable, "-m", "bench.mini_engine", "--space", space, "--batch", str(b),
                              "--configs", str(n_configs)], capture_output=True, text=True, cwd=REPO, timeout=7200)
        if res.returncode != 0:
            out.append({"batch": b, "skipped": res.stderr.strip().splitlines()[-1:] or ["?"]})
            continue
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def mini_engines(pair_configs: int = 4, pair_repeats: int = 2, sweep_configs: int = 8,
                 batches: tuple[int, ...] = (1, 4, 16, 64), log=print) -> dict:
    """The case: per space, the engine pair, the floor and the batch sweep (see the module docstring)."""
    try:
        import smm_bench_collection.evaluate  # noqa: F401
    except ImportError as e:
        return {"skipped": f"collection extra not installed ({e})"}
    gflops = matmul_gflops()
    out: dict = {"matmul_gflops_one_core": gflops}
    for space, dirs in NEEDS.items():
        missing = [d for d in dirs if not (MODELS / d / "config.json").is_file()]
        if missing:
            out[space] = {"skipped": f"collection/mini/models/{{{','.join(missing)}}} not trained yet"}
            continue
        pair = engine_pair(space, pair_configs, pair_repeats, gflops)
        log(f"[mini {space}] version 3 {pair['new_s']:.2f} s/config, version 2 {pair['old_s']:.2f} s/config: "
            f"{pair['speedup']:.2f}x, same bits {pair['same_bits']}")
        sweep = batch_sweep(space, list(batches), sweep_configs)
        log(f"[mini {space}] by batch size: " + ", ".join(
            f"G={p['batch']} {p['s_per_config']:.2f} s ({p['peak_rss_mb']:.0f} MB)" for p in sweep if "skipped" not in p))
        out[space] = {"pair": pair, "sweep": sweep}
    return out


def markdown(case: dict) -> list[str]:
    """The README lines of this case."""
    if "skipped" in case:
        return [f"- mini true evaluation: skipped ({case['skipped']})."]
    lines = [f"Mini true evaluation, one core (`torch.set_num_threads(1)`); a large float32 matrix product "
             f"runs at {case['matmul_gflops_one_core']:.1f} GFLOP/s here. Engine version 3 (batched) against "
             f"version 2, timed interleaved on the same configurations:", "",
             "| space | v2 s/config (merge / generate / judge) | v3 s/config (merge / generate / judge) | speed-up | "
             "same bits | model GFLOP/config | floor s | share of floor v2 / v3 | configs/hour on 2 cores v2 / v3 |",
             "|---|---|---|---|---|---|---|---|---|"]
    sweeps = []
    for space in ("ps", "dfs"):
        sc = case.get(space)
        if not sc or "skipped" in sc:
            lines.append(f"| {space} | skipped: {sc['skipped'] if sc else 'not run'} | | | | | | | |")
            continue
        p = sc["pair"]

        def phases(key: str) -> str:
            return " / ".join(f"{p[key][k]:.3g}" for k in PHASES)

        lines.append(f"| {space} | {p['old_s']:.2f} ({phases('old_phases_s')}) | {p['new_s']:.2f} "
                     f"({phases('new_phases_s')}) | **{p['speedup']:.2f}x** | {p['same_bits']} | "
                     f"{p['gflop_per_config']:.1f} | {p['floor_s']:.2f} | {p['floor_share_old']:.1%} / "
                     f"{p['floor_share_new']:.1%} | {p['configs_per_hour_2_cores_old']:,.0f} / "
                     f"{p['configs_per_hour_2_cores_new']:,.0f} |")
        for q in sc["sweep"]:
            if "skipped" in q:
                sweeps.append(f"| {space} | {q['batch']} | skipped: {q['skipped']} | | | | |")
            else:
                sweeps.append(f"| {space} | {q['batch']} | {q['s_per_config']:.2f} | {q['merge']:.3g} | "
                              f"{q['generate']:.3g} | {q['judge']:.3g} | {q['peak_rss_mb']:,.0f} |")
    if sweeps:
        lines += ["", "Version 3 by batch size G (configurations per `evaluate_batch` call, each G in a fresh "
                      "process; decoded in groups whose caches fit 1 GiB):", "",
                  "| space | G | s/config | merge | generate | judge | peak RSS MB |", "|---|---|---|---|---|---|---|",
                  *sweeps]
    return lines


def main(argv: list[str] | None = None) -> int:
    """One sweep point in this process (``batch_sweep`` runs it in a fresh one); prints JSON."""
    ap = argparse.ArgumentParser(description=sweep_point.__doc__)
    ap.add_argument("--space", choices=("ps", "dfs"), required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--configs", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    print(json.dumps(sweep_point(a.space, a.batch, a.configs, a.device)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
