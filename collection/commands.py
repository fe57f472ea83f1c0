"""``smm-bench collect``: the data collection's sub-command, registered from this package.

The runtime's command line (``smm_bench_plugin.cli``) finds it through the entry point group
``smm_bench_plugin.commands`` and never imports this layer itself. Importing this module is
cheap (numpy and the runtime); torch, transformers and the optimiser libraries load when the
command runs, and a missing ``[collect]`` extra is named in the error.
"""
from __future__ import annotations

import argparse

from smm_bench_plugin.cli import BLAS_KERNEL_ARG, arg, command, console, pin_kernel_of

from .samplers import SAMPLERS


@command("collect", "collect true evaluations (merge + generate + judge) into a dataset folder; resumable",
         arg("--space", required=True, choices=("ps", "dfs")),
         arg("--family", default="mini",
             help="mini | mini:<models dir> | hf (the paper's 7B models) | comma-separated model ids or folders "
                  "(PS: base,ja_source,math_source; DFS: model_A,model_B)"),
         arg("--sampler", required=True, choices=SAMPLERS),
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
         BLAS_KERNEL_ARG, extra="collect")
def collect(args: argparse.Namespace) -> int:
    pinned = pin_kernel_of(args)
    if pinned is not None:
        return pinned
    from .collect import cli_collect  # torch, transformers, cmaes, optuna

    summary = cli_collect(args.space, args.family, args.sampler, args.budget, args.out, executor=args.executor,
                          seed=args.seed, workers=args.workers, gsm8k_ja=args.objective_data,
                          mgsm_ja=args.test_data, device=args.device, batch_size=args.batch_size)
    console().print(f"{summary.sampler} seed {summary.seed}: {summary.asked}/{summary.budget} configs "
                    f"({summary.evaluated} evaluated now, {summary.reused} reused), best objective "
                    f"{summary.best_objective:.4f} (test {summary.best_test:.4f}), {summary.rows_in_store} rows "
                    f"in {summary.out_dir}")
    return 0 if summary.asked == summary.budget else 1
