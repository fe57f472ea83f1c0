"""Sep-CMA-ES (PS, continuous) or CatCMA (DFS, mixed) from the ``cmaes`` package, ask/tell with
one batched ``evaluate_array`` call per generation.

    python examples/cmaes_sep_cat.py smm_ps_mini --generations 50
    python examples/cmaes_sep_cat.py smm_dfs_mini --generations 50     # CatCMA

The search runs on the unit cube (mean 0.5, sigma 1/6) and is mapped to the bounds; cmaes
minimises, so it is told -accuracy.
"""

from __future__ import annotations

import numpy as np
from _common import parser, report
from cmaes import CatCMA, SepCMA

import smm_bench_plugin as smm


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--generations", type=int, default=30)
    args = p.parse_args()
    bench = smm.load(args.scenario)
    cs = bench.configspace
    lower = np.array([cs[n].lower for n in bench.cont_names])
    upper = np.array([cs[n].upper for n in bench.cont_names])
    levels = np.array([len(cs[n].choices) for n in bench.cat_names], dtype=np.int64)
    obj = bench.target_names.index(bench.objective_name)
    d = len(bench.cont_names)
    box = np.tile([0.0, 1.0], (d, 1))
    if len(levels):
        opt = CatCMA(mean=np.full(d, 0.5), sigma=1 / 6, cat_num=levels, bounds=box, seed=args.seed)
    else:
        opt = SepCMA(mean=np.full(d, 0.5), sigma=1 / 6, bounds=box, seed=args.seed)
    best, best_row, n = -np.inf, None, 0
    for _ in range(args.generations):
        asked = [opt.ask() for _ in range(opt.population_size)]
        xs = np.array([a[0] if len(levels) else a for a in asked])
        x_cont = lower + xs * (upper - lower)
        x_cat = np.array([[int(np.argmax(row[:k])) + 1 for row, k in zip(a[1], levels)] for a in asked]
                         if len(levels) else np.zeros((len(asked), 0)), dtype=np.int32)
        values = bench.evaluate_array(x_cat, x_cont)[:, obj]
        n += len(values)
        opt.tell([(a, -v) for a, v in zip(asked, values)])
        i = int(np.argmax(values))
        if values[i] > best:
            best, best_row = values[i], (x_cat[i:i + 1], x_cont[i:i + 1])
    report(bench, bench.decode(*best_row)[0], n, optimizer=type(opt).__name__, best_value=float(best))


if __name__ == "__main__":
    main()
