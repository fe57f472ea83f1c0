"""Optuna TPE on an SMM-Bench scenario (maximise the objective accuracy).

    python examples/optuna_tpe.py smm_ps_mini --n-trials 200

TPE settings are pinned explicitly (Optuna 5 changed its defaults; smm_bench_plugin.optimizers.MULTIVARIATE_TPE).
"""

from __future__ import annotations

import optuna
from _common import parser, report

import smm_bench_plugin as smm


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n-trials", type=int, default=100)
    args = p.parse_args()
    bench = smm.load(args.scenario)
    cs = bench.configspace

    def objective(trial: optuna.Trial) -> float:
        config = {}
        for hp in cs.values():
            if hasattr(hp, "choices"):
                config[hp.name] = trial.suggest_categorical(hp.name, list(hp.choices))
            else:
                config[hp.name] = trial.suggest_float(hp.name, hp.lower, hp.upper)
        return bench.objective(config)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=args.seed, n_startup_trials=10, n_ei_candidates=24,
                                         multivariate=True, constant_liar=False)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=args.n_trials)
    report(bench, study.best_params, len(study.trials), best_value=study.best_value)


if __name__ == "__main__":
    main()
