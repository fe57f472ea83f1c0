"""Optuna TPE on an SMM-Bench scenario (maximise the objective accuracy).

    python examples/optuna_tpe.py smm_ps_mini --n-trials 200

TPE settings are pinned explicitly (Optuna 5 changed its defaults): ``tpe_sampler`` uses compare's
(smm_bench_plugin.optimizers.MULTIVARIATE_TPE).
"""

from __future__ import annotations

import optuna
from _common import parser, report

import smm_bench_plugin as smm
from smm_bench_plugin.optuna_space import optuna_objective, tpe_sampler


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n-trials", type=int, default=100)
    args = p.parse_args()
    bench = smm.load(args.scenario)
    study = optuna.create_study(direction="maximize", sampler=tpe_sampler(args.seed))
    study.optimize(optuna_objective(bench), n_trials=args.n_trials)
    report(bench, study.best_params, len(study.trials), best_value=study.best_value)


if __name__ == "__main__":
    main()
