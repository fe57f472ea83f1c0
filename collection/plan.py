"""The collection plan of the bundled mini datasets, and a resumable runner for it.

    python -m smm_bench_collection.plan --space ps [--data collection/data] [--hours 2.5]

The plan's targets: at least 25,000 PS evaluations (>= 16,000 uniform random, >= 500 in the 2-D
model-wise subspace, CMA-ES >= 6 runs, TPE batch 8 >= 4 runs) and 12,000 DFS evaluations
(>= 8,000 random, CatCMA >= 3 runs, TPE >= 2 runs), mirroring the paper's mix, plus
500 DFS configurations stratified by distance from the default (``random_stratified``).
Runs execute in the order below, each through ``collect`` (so each is resumable and rows are
written the moment they exist). The random run is grown in two steps so that a partially
collected dataset already holds every sampler. Each run writes its own store folder
(``mini_<space>/<sampler>-s<seed>``), so several runner processes can share the plan, one per
core. ``--hours`` stops cleanly after that much wall time (exit status 3); the same command continues.

    python -m smm_bench_collection.plan --space dfs,ps

works through the spaces in that order: a runner that finds every remaining run of a space
taken by other runners moves on to the next space instead of waiting, so no core idles while
another finishes a space's last run (``--hours`` counts for all of them). Exit status 3 also
when runs of an earlier space were left to other runners still writing them.
``--blas-kernel K`` runs the plan on OpenBLAS kernel K, so its CMA-ES and CatCMA runs replay from
their seeds on any machine that runs K (``smm_bench_plugin.blas``). Each asked round is evaluated
as one batch (``--batch-size N`` caps it); ``--device cuda`` decodes on a GPU.

    python -m smm_bench_collection.plan --space ps --seal

seals the space after the runners are stopped: every run folder is compacted into one file and
validated against SCHEMA.md, so what gets committed is one checked parquet file per run. Rows
of a repeated slot (a round re-asked by a resume before ``collect`` reused stored slots) are
dropped, the earliest kept, and counted in the output. It
refuses (and names the folder) while a runner still holds a store's lock.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from smm_bench_plugin.blas import pin_kernel

from .collect import collect, family_factory
from .executors import LocalExecutor
from .store import ResultStore, StoreLockedError, ValidationReport, _store_meta, validate

DATA_DIR = Path(__file__).resolve().parent / "data"

PLAN = {
    # PS: the runs behind the validity report's Figure 1 analog (CMA-ES and TPE, 3 seeds x 1000
    # true evaluations each, beside random search) come early, then the bulk of uniform random.
    # (random-s0 was at 3,300 of its 4,000 step when the third seeds were moved before it:
    # Figure 1's three random slices of 1,000 already existed.)
    "ps": [("random", 0, 500), ("cmaes", 0, 1000), ("cmaes", 1, 1000), ("tpe", 0, 1000), ("cmaes", 2, 1000),
           ("tpe", 1, 1000), ("tpe", 2, 1000), ("random", 0, 4000), *[("cmaes", s, 1000) for s in range(3, 6)],
           ("tpe", 3, 600), ("random_modelwise", 0, 500), ("random", 0, 10100), ("random", 1, 6000),
           # Where optimisers end (validity at end points): Sep-CMA-ES drives the surrogate to its
           # clip, so its true runs come first among the optimisers the data lacked.
           *[("sepcma", s, 1000) for s in range(3)]],
    # Both spaces: the bulk of uniform random is split over two seeds. A run folder is written by one process,
    # so two runs let two runners share a space's last hours instead of leaving a core idle.
    # Figure 1's random slices are random-s0's first 3,000 rows either way.
    # DFS: uniform random paths mostly break model A (half of them score exactly 0), so the
    # model-based runs, which find the region that matters, come before the bulk of random.
    # random_stratified (our addition, see samplers.py) covers model A's neighbourhood, the
    # space's default, which none of the paper's samplers visit.
    # The validity report's Figure 1 needs 3 seeds x 1000 true evaluations of every optimiser, so
    # the TPE runs (first planned 600 long) are grown to 1000 and a third seed is added.
    "dfs": [("random", 0, 500), ("catcma", 0, 1000), ("tpe", 0, 600), ("random_stratified", 0, 500),
            ("random", 0, 2000), ("catcma", 1, 1000), ("tpe", 0, 1000), ("tpe", 1, 1000), ("catcma", 2, 1000),
            ("tpe", 2, 1000), ("random", 0, 5000), ("random", 1, 3000),
            # More model-based runs: every "one run fewer" column of the report still rises on DFS.
            ("catcma", 3, 1000), ("tpe", 3, 1000), ("catcma", 4, 1000), ("tpe", 4, 1000)],
}


def planned_runs(space: str) -> dict[tuple[str, int], int]:
    """Each (sampler, seed) run of the plan with its final budget (a run grown in steps counts once)."""
    final: dict[tuple[str, int], int] = {}
    for sampler, seed, budget in PLAN[space]:
        final[(sampler, seed)] = max(budget, final.get((sampler, seed), 0))
    return final


def planned_total(space: str) -> int:
    """Rows the plan yields."""
    return sum(planned_runs(space).values())


def run_folder(space_dir: Path, sampler: str, seed: int) -> Path:
    """Each sampler run has its own store folder, so runs can proceed in parallel processes."""
    return space_dir / f"{sampler}-s{seed}"


def run_plan(space: str, data_dir: Path = DATA_DIR, hours: float | None = None, family: str = "mini",
             progress: bool = True, poll_seconds: float = 30.0, deadline: float | None = None,
             wait_for_others: bool = True, device: str = "cpu", batch_size: int | None = None) -> bool:
    """Work through ``PLAN[space]``; returns True when every run reached its budget.

    Several runner processes may share the plan: a run whose folder another process is writing
    (the store's lock) is skipped and revisited later, so N processes use N cores. When only
    such runs remain, the runner waits for them (their budget may grow in a later step of the
    plan) or, with ``wait_for_others=False``, returns False so that it can work on another
    space. ``deadline`` (a ``time.time()`` value) replaces ``hours`` when a runner works
    through several spaces on one clock. ``device`` and ``batch_size`` are ``collect``'s
    (``--device``, ``--batch-size``).
    """
    space_dir = data_dir / f"mini_{space}"
    factory = family_factory(space, family, **({"device": device} if device != "cpu" else {}))
    if deadline is None and hours:
        deadline = time.time() + 3600 * hours
    done: set[int] = set()
    while len(done) < len(PLAN[space]):
        progressed = False
        for i, (sampler, seed, budget) in enumerate(PLAN[space]):
            if i in done:
                continue
            if deadline is not None and time.time() > deadline:
                print("stopping: the time is up (--hours); run the same command to continue", flush=True)
                return False
            if any(j not in done and PLAN[space][j][:2] == (sampler, seed) for j in range(i)):
                continue  # an earlier, smaller budget of the same run comes first
            try:
                # slices of 250 configs so a deadline stops within minutes (collect resumes exactly)
                asked = 0
                while asked < budget and (deadline is None or time.time() < deadline):
                    s = collect(space, factory, sampler, min(budget, asked + 250), run_folder(space_dir, sampler, seed),
                                seed=seed, progress=progress, executor=LocalExecutor(batch_size))
                    asked = s.asked
                    print(f"{space} {sampler} seed {seed}: {s.asked}/{budget}, best {s.best_objective:.3f}",
                          flush=True)
            except StoreLockedError:
                continue
            progressed = True
            if asked >= budget:
                done.add(i)
        if not progressed and len(done) < len(PLAN[space]):
            if not wait_for_others:
                print(f"{space}: the remaining runs are being written by other runners; moving on", flush=True)
                return False
            time.sleep(poll_seconds)  # the remaining runs are being written by other processes
    return True


def parse_spaces(text: str) -> list[str]:
    """``"dfs,ps"`` -> ``["dfs", "ps"]``, each a planned space, none twice."""
    spaces = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in spaces if s not in PLAN]
    if not spaces or unknown or len(set(spaces)) != len(spaces):
        raise argparse.ArgumentTypeError(f"--space takes {' or '.join(sorted(PLAN))}, or several in order "
                                         f"separated by commas (e.g. dfs,ps), each once; got {text!r}")
    return spaces


def seal(space: str, data_dir: Path = DATA_DIR) -> dict[str, ValidationReport]:
    """Compact and validate every run folder of ``space``; returns each folder's report.

    Why: a runner appends one small shard per batch, and a killed runner may leave an
    interrupted compaction behind (identical duplicates, see SCHEMA.md). Sealing before a commit
    leaves one file per run and proves that every row still matches its config_id, its bounds
    and its per-item bits. A store that a runner still writes raises ``RuntimeError``.
    """
    space_dir = Path(data_dir) / f"mini_{space}"
    if not space_dir.is_dir():
        raise FileNotFoundError(f"no collected data for space {space!r} under {data_dir}")
    reports: dict[str, ValidationReport] = {}
    for folder in sorted(p for p in space_dir.iterdir() if p.is_dir()):
        meta = _store_meta(folder)
        with ResultStore(folder, meta["space"], meta["family_id"]) as store:
            before = len(store)
            after = store.compact(drop_repeated_slots=True)
        reports[folder.name] = report = validate(folder)
        if after < before:
            report.warnings.append(f"dropped {before - after} re-asked row(s) of repeated slots")
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", required=True, type=parse_spaces,
                    help=f"{' or '.join(sorted(PLAN))}, or several in order (e.g. dfs,ps)")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--hours", type=float)
    ap.add_argument("--family", default="mini")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--seal", action="store_true",
                    help="compact and validate every run folder of the space, then exit (runners stopped)")
    ap.add_argument("--device", default="cpu", help="torch device of the batched engine (default cpu; e.g. cuda)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="configurations per evaluation batch (default: each asked round as one batch)")
    ap.add_argument("--blas-kernel", metavar="K",
                    help="run on this OpenBLAS kernel (e.g. Haswell) by rerunning under OPENBLAS_CORETYPE=K, so that "
                         "CMA-ES and CatCMA runs replay from their seed on every machine (smm_bench_plugin.blas)")
    argv = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv)
    if a.blas_kernel and not a.seal:
        pinned = pin_kernel(a.blas_kernel, "smm_bench_collection.plan", argv)
        if pinned is not None:
            return pinned
    if a.seal:
        return 0 if all([_seal_and_print(space, a.data) for space in a.space]) else 1
    deadline = time.time() + 3600 * a.hours if a.hours else None
    finished = []
    for i, space in enumerate(a.space):
        finished.append(run_plan(space, a.data, family=a.family, progress=not a.no_progress, deadline=deadline,
                                 wait_for_others=i == len(a.space) - 1, device=a.device, batch_size=a.batch_size))
        if deadline is not None and time.time() > deadline:
            break
    return 0 if len(finished) == len(a.space) and all(finished) else 3


def _seal_and_print(space: str, data_dir: Path) -> bool:
    """``--seal`` of one space: a line per run folder and the total; True when every folder validates."""
    try:
        reports = seal(space, data_dir)
    except RuntimeError as e:
        raise SystemExit(f"error: {e}; stop the runners of --space {space} first") from None
    for name, r in reports.items():
        status = "ok" if r.ok else f"{len(r.errors)} error(s): " + "; ".join(r.errors[:3])
        notes = "".join(f"; {w}" for w in r.warnings if w.startswith("dropped"))
        print(f"{space} {name}: {r.n_rows} rows in {r.n_files} file(s), {status}{notes}")
    total = sum(r.n_rows for r in reports.values())
    print(f"{space}: {total} rows, {planned_total(space)} planned")
    return all(r.ok for r in reports.values())


if __name__ == "__main__":
    raise SystemExit(main())
