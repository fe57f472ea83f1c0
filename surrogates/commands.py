"""``smm-bench train``: the surrogate layer's sub-command, registered from this package.

The runtime's command line (``smm_bench_plugin.cli``) finds it through the entry point group
``smm_bench_plugin.commands`` and never imports this layer itself. LightGBM and Optuna load
when the command runs; a missing ``[train]`` extra is named in the error.
"""
from __future__ import annotations

import argparse

from smm_bench_plugin.cli import arg, command

from .train import DERIVED_CHOICES, ENSEMBLES  # numpy only at import


@command("train", "train a scenario's surrogates from a collected dataset (needs the [train] extra)",
         arg("--data", required=True, help="dataset folder written by smm-bench collect"),
         arg("--space", required=True, choices=("ps", "dfs")),
         arg("--out", required=True, help="scenario folder to write"),
         arg("--trials", type=int, default=40, help="Optuna trials per target"),
         arg("--seed", type=int, default=0),
         arg("--ensemble", choices=ENSEMBLES, default="auto",
             help="cv: mean of the 5 fold models (the paper); refit: one model on the training split, 5x cheaper; "
                  "auto: per target the cheapest candidate (cv or refit, the tuned trial or a cheaper trial of the "
                  "tuning front) as accurate as the tuned cv on the held-out rows"),
         arg("--reference-out", default=None,
             help="with --ensemble auto: also export the reference (every target's tuned cv) into this folder "
                  "when the rule chose another model, for the end-point comparison"),
         arg("--derived", choices=DERIVED_CHOICES, default="auto",
             help="derived features computed inside the graph (auto: the space's default set, dfs-path-v2 on "
                  "DFS, ps-mean-v1 on PS; none: the paper's raw features only)"),
         arg("--params-from", default=None,
             help="use this trained scenario's tuned parameters instead of tuning (its cv or refit in minutes)"),
         arg("--ensemble-for", action="append", default=[], metavar="ROLE=KIND",
             help="override --ensemble for one target role (objective, test, cost; repeatable), e.g. objective=cv"),
         arg("--retune", default="", metavar="ROLE,...",
             help="with --params-from: tune these roles afresh (their front's cheaper trials become candidates)"),
         arg("--until", default=None,
             help="train on rows evaluated at or before this ISO date-time only (a scenario's provenance "
                  "rows_until rebuilds it while collection goes on)"),
         extra="train")
def train(args: argparse.Namespace) -> int:
    from .train import main as train_main  # lightgbm, optuna

    return train_main(["--data", args.data, "--space", args.space, "--out", args.out,
                       "--trials", str(args.trials), "--seed", str(args.seed), "--ensemble", args.ensemble,
                       "--derived", args.derived] + (["--until", args.until] if args.until else [])
                      + (["--reference-out", args.reference_out] if args.reference_out else [])
                      + (["--params-from", args.params_from] if args.params_from else [])
                      + [f"--ensemble-for={item}" for item in args.ensemble_for]
                      + (["--retune", args.retune] if args.retune else []))
