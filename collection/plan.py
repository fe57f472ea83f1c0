"""The collection plan of the bundled mini datasets, and a resumable runner for it.

    python -m smm_bench_collection.plan --space ps [--data collection/data] [--hours 2.5]

Issue 4 asks for at least 25,000 PS evaluations (>= 16,000 uniform random, >= 500 in the 2-D
model-wise subspace, CMA-ES >= 6 runs, TPE batch 8 >= 4 runs) and 12,000 DFS evaluations
(>= 8,000 random, CatCMA >= 3 runs, TPE >= 2 runs), mirroring the paper's mix (SPEC §4).
Runs execute in the order below, each through ``collect`` (so each is resumable and rows are
written the moment they exist). The random run is grown in two steps so that a partially
collected dataset already holds every sampler. ``--hours`` stops cleanly between
configurations after that much wall time; running the command again continues.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .collect import collect, family_factory

DATA_DIR = Path(__file__).resolve().parent / "data"

PLAN = {
    "ps": [("random", 0, 500), ("cmaes", 0, 1000), ("random", 0, 4000),
           *[("cmaes", s, 1000) for s in range(1, 6)], *[("tpe", s, 600) for s in range(4)],
           ("random_modelwise", 0, 500), ("random", 0, 16100)],
    "dfs": [("random", 0, 2000), *[("catcma", s, 1000) for s in range(3)], *[("tpe", s, 600) for s in range(2)],
            ("random", 0, 8000)],
}


def planned_total(space: str) -> int:
    """Rows the plan yields (each run's final budget counts once)."""
    final: dict[tuple[str, int], int] = {}
    for sampler, seed, budget in PLAN[space]:
        final[(sampler, seed)] = max(budget, final.get((sampler, seed), 0))
    return sum(final.values())


def run_plan(space: str, data_dir: Path = DATA_DIR, hours: float | None = None, family: str = "mini",
             progress: bool = True) -> None:
    out = data_dir / f"mini_{space}"
    factory = family_factory(space, family)
    deadline = time.time() + 3600 * hours if hours else None
    for sampler, seed, budget in PLAN[space]:
        if deadline is not None and time.time() > deadline:
            print(f"stopping: {hours} h elapsed; run the same command to continue", flush=True)
            return
        # a budget-limited slice of the run: collect stops at the budget, so the deadline is
        # checked between runs and, for long runs, by growing them in slices of 250 configs
        done = 0
        while done < budget:
            step = min(budget, done + 250)
            s = collect(space, factory, sampler, step, out, seed=seed, progress=progress)
            done = step
            print(f"{space} {sampler} seed {seed}: {s.asked}/{budget}, best {s.best_objective:.3f}, "
                  f"{s.rows_in_store} rows", flush=True)
            if deadline is not None and time.time() > deadline and done < budget:
                print(f"stopping: {hours} h elapsed; run the same command to continue", flush=True)
                return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", required=True, choices=sorted(PLAN))
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--hours", type=float)
    ap.add_argument("--family", default="mini")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args()
    run_plan(a.space, a.data, a.hours, a.family, not a.no_progress)


if __name__ == "__main__":
    main()
