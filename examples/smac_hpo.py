"""SMAC3 (``smac`` 2.x) HPO facade on an SMM-Bench scenario; SMAC minimises 1 - accuracy.

    python examples/smac_hpo.py smm_ps_mini --n-trials 100 --output-dir smac-out

Only the HPO (black-box) facade applies: SMM-Bench scenarios have no fidelity yet, so SMAC's
multi-fidelity facade (Hyperband) has nothing to vary. Needs ConfigSpace >= 1 (extra ``[smac]``).
"""

from __future__ import annotations

import tempfile

from _common import parser, report
from ConfigSpace import Configuration
from smac import HyperparameterOptimizationFacade, Scenario

import smm_bench_plugin as smm


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n-trials", type=int, default=50)
    p.add_argument("--output-dir", default=None, help="SMAC run folder (default: a temporary folder)")
    args = p.parse_args()
    bench = smm.load(args.scenario)

    def one_minus_accuracy(config: Configuration, seed: int = 0) -> float:
        return 1.0 - bench.objective(dict(config))

    out = args.output_dir or tempfile.mkdtemp(prefix="smac-smm-")
    scenario = Scenario(bench.configspace, name=f"smm-{bench.name}", deterministic=True, n_trials=args.n_trials,
                        seed=args.seed, output_directory=out)
    smac = HyperparameterOptimizationFacade(scenario, one_minus_accuracy, overwrite=True, logging_level=40)
    incumbent = smac.optimize()
    report(bench, dict(incumbent), smac.runhistory.finished, best_value=1.0 - smac.runhistory.get_cost(incumbent))


if __name__ == "__main__":
    main()
