"""SciPy differential evolution with population 64, as in the paper's Figure 2 (Sep-CMA vs DE).

    python examples/scipy_de.py smm_ps_mini --maxiter 30

Vectorised: each generation is one ``evaluate_array`` call. On DFS the categoricals are relaxed
to floats u in [0, 1] and decoded as choice floor(u * K).
"""

from __future__ import annotations

import numpy as np
from _common import parser, report
from scipy.optimize import differential_evolution

import smm_bench_plugin as smm


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--maxiter", type=int, default=30)
    args = p.parse_args()
    bench = smm.load(args.scenario)
    cs = bench.configspace
    levels = np.array([len(cs[n].choices) for n in bench.cat_names], dtype=np.int64)
    bounds = [(0.0, 1.0)] * len(levels) + [(cs[n].lower, cs[n].upper) for n in bench.cont_names]
    obj = bench.target_names.index(bench.objective_name)
    k = len(levels)

    def decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # x: [S, dim]
        x_cat = (np.minimum(np.floor(x[:, :k] * levels), levels - 1) + 1).astype(np.int32)
        return x_cat, np.ascontiguousarray(x[:, k:])

    n = 0

    def negative_accuracy(x: np.ndarray) -> np.ndarray:  # x: [dim, S]
        nonlocal n
        values = bench.evaluate_array(*decode(x.T))[:, obj]
        n += len(values)
        return -values

    dim = len(bounds)
    res = differential_evolution(negative_accuracy, bounds, popsize=max(1, round(64 / dim)), maxiter=args.maxiter,
                                 polish=False, tol=0.0, vectorized=True, updating="deferred", seed=args.seed)
    report(bench, bench.decode(*decode(res.x[None, :]))[0], n, best_value=float(-res.fun))


if __name__ == "__main__":
    main()
