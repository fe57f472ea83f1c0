"""Rebuild the bundled scenarios from the collected data: one command for the whole chain.

    python -m smm_bench_surrogates.rebuild [--spaces ps dfs] [--from STEP] [--bench] [--dry-run] [--derived dfs=auto]

The chain, in the order data flows (docs/scenarios.md):

1. ``seal``: ``python -m smm_bench_collection.plan --space S --seal`` per space; ``card``: the
   dataset card (``python -m smm_bench_collection.card``, both spaces).
2. ``train``: ``smm-bench train`` per space with the arguments the bundled scenario was built
   with (trials, seed, ensemble rule, derived features: read from its ``meta.json``), on every
   row there is now.
3. ``report``: the validity report per space (``python -m smm_bench_surrogates.report``).
4. ``readme``: the bundled-scenarios block of ``docs/scenarios.md`` (``python -m smm_bench_surrogates.summary
   --doc docs/scenarios.md``), and with ``--bench`` the performance block of ``docs/performance.md``
   (``python -m bench --doc docs/performance.md``).

Before anything runs, the chain refuses while a collection runner holds any store's lock, in
either space, whatever ``--from`` says. Spaces run side by side (one process each: the machine
this was built on has 2 cores), each
step's output goes to ``<log dir>/<step>-<space>.log``, and a failed step stops the chain with
its log named. ``--from`` restarts the chain at a step after an interruption: every step
rewrites its outputs whole, so rerunning one is safe. Why a module and not a shell script:
the commands are the ones docs/scenarios.md and each ``REPORT.md`` print, built here from the same
recorded settings, and ``--dry-run`` shows them.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
STEPS = ("seal", "card", "train", "report", "readme", "bench")

BUNDLED = {"ps": "surrogates/scenarios/smm_ps_mini", "dfs": "surrogates/scenarios/smm_dfs_mini"}


def train_argv(space: str, derived: str | None = None) -> tuple[str, ...]:
    """The bundled scenario's own train command (its REPORT.md prints it), on every row there is now.

    Built from the scenario's ``meta.json`` by :func:`.training_record.train_command`, so trials, seed,
    ensemble rule and derived features are what the shipped model recorded, not a second copy
    of them here; ``--until`` (which pins the rows of the last build) is dropped. ``derived``
    replaces the recorded feature set: the one deliberate change a rebuild can make, to adopt a
    new default set (``python -m smm_bench_surrogates.features`` compares them first).
    """
    from .training_record import train_command

    command = train_command(BUNDLED[space], space, _meta(space))
    if command is None:
        raise ValueError(f"{REPO / BUNDLED[space]}/meta.json does not record how it was trained (dataset, trials)")
    words = shlex.split(command)
    if "--until" in words:
        i = words.index("--until")
        del words[i:i + 2]
    assert words[:2] == ["smm-bench", "train"], words
    if derived is not None:
        if "--derived" in words:
            i = words.index("--derived")
            del words[i:i + 2]
        words += ["--derived", derived]
    return (sys.executable, "-m", "smm_bench_plugin.cli", *words[1:])


def data_dir(space: str) -> str:
    """The collection folder the bundled scenario was trained on (its provenance)."""
    return _meta(space)["provenance"]["dataset"]


def _meta(space: str) -> dict:
    return json.loads((REPO / BUNDLED[space] / "meta.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Job:
    """One command of the chain: which step, for which space (None: once for all)."""

    step: str
    space: str | None
    argv: tuple[str, ...]

    @property
    def log_name(self) -> str:
        return f"{self.step}-{self.space or 'all'}"


def plan_jobs(spaces: list[str], start: str = "seal", bench: bool = False,
              derived: dict[str, str] | None = None) -> list[list[Job]]:
    """The chain from ``start`` on, as stages; the jobs of one stage run side by side.

    Stages are built only from ``start`` on, so a resumed chain does not need what earlier
    steps needed (a train command, say, when only the docs block is redone).
    """
    py = sys.executable
    stages: dict[str, Callable[[], list[Job]]] = {
        "seal": lambda: [Job("seal", s, (py, "-m", "smm_bench_collection.plan", "--space", s, "--seal"))
                         for s in spaces],
        "card": lambda: [Job("card", None, (py, "-m", "smm_bench_collection.card"))],
        "train": lambda: [Job("train", s, train_argv(s, (derived or {}).get(s))) for s in spaces],
        "report": lambda: [Job("report", s, (py, "-m", "smm_bench_surrogates.report", "--scenario", BUNDLED[s],
                                             "--data", data_dir(s))) for s in spaces],
        "readme": lambda: [Job("readme", None, (py, "-m", "smm_bench_surrogates.summary", "--doc", "docs/scenarios.md"))],
        "bench": lambda: [Job("bench", None, (py, "-m", "bench", "--doc", "docs/performance.md"))],
    }
    order = [step for step in STEPS if step != "bench" or bench]
    return [stages[step]() for step in order[order.index(start):]]


def _derived_problem(space: str, name: str, spaces: list[str], start: str) -> str | None:
    """Why a ``--derived`` override would fail or do nothing, found before sealing touches a store."""
    from smm_bench_plugin.derived_features import FEATURE_SETS
    from smm_bench_plugin.spaces import space_json

    from .train import resolve_derived

    if space not in spaces:
        return f"{space} is not rebuilt (--spaces {' '.join(spaces)})"
    if STEPS.index(start) > STEPS.index("train"):
        return f"the chain starts at {start}, after train: nothing would be trained"
    try:
        resolved = resolve_derived(name, space)
    except ValueError as exc:
        return str(exc)
    if resolved is not None:
        from smm_bench_plugin.scenario import space_tables

        cat, _, cont, _, _ = space_tables(space_json(space))
        layout = FEATURE_SETS[resolved]
        if (layout["n_cat"], layout["n_cont"]) != (len(cat), len(cont)):
            return f"set {resolved} is for another space's layout ({layout['n_cat']} + {layout['n_cont']} columns)"
    return None


def active_writers(root: Path = REPO / "collection" / "data") -> list[Path]:
    """Run folders of either space that a collection runner is writing now."""
    from smm_bench_collection.store import writer_active

    return [folder for folder in sorted(root.glob("mini_*/*")) if folder.is_dir() and writer_active(folder)]


def run_stage(jobs: list[Job], log_dir: Path) -> None:
    """Run one stage's jobs in parallel; raise naming the first failed job and its log.

    Every job of the stage is waited for (a sibling's failure does not cut a training short and
    leave a half-written scenario); an interruption terminates the jobs still running.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    running: list[tuple[Job, Path, subprocess.Popen]] = []
    try:
        for job in jobs:
            log = log_dir / f"{job.log_name}.log"
            with open(log, "w", encoding="utf-8") as fh:
                running.append((job, log, subprocess.Popen(job.argv, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)))
        codes = [(job, log, proc.wait()) for job, log, proc in running]
    finally:
        for _, _, proc in running:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    for job, log, code in codes:
        if code != 0:
            raise RuntimeError(f"{job.log_name} failed (exit {code}); see {log}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spaces", nargs="+", choices=sorted(BUNDLED), default=sorted(BUNDLED, reverse=True))
    ap.add_argument("--from", dest="start", choices=STEPS, default="seal", help="first step to run")
    ap.add_argument("--bench", action="store_true", help="also rerun the performance suite and its block in docs/performance.md")
    ap.add_argument("--log-dir", type=Path, default=REPO / "surrogates" / "rebuild-logs")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--derived", action="append", default=[], metavar="SPACE=SET",
                    help="train SPACE with derived feature set SET (a name, none or auto) instead of the one its "
                         "bundled model recorded, e.g. dfs=auto to adopt the current default; repeatable")
    args = ap.parse_args(argv)
    if args.start == "bench":
        args.bench = True
    derived = {}
    for item in args.derived:
        space, _, name = item.partition("=")
        if space not in BUNDLED or not name:
            ap.error(f"--derived {item!r}: expected SPACE=SET with SPACE one of {sorted(BUNDLED)}")
        problem = _derived_problem(space, name, args.spaces, args.start)
        if problem:
            ap.error(f"--derived {item!r}: {problem}")
        derived[space] = name
    stages = plan_jobs(args.spaces, args.start, args.bench, derived)
    busy = [] if args.dry_run else active_writers()
    if busy:
        print(f"error: collection runners are writing {', '.join(str(f.relative_to(REPO)) for f in busy)}; "
              "stop them first (the chain reads every row, and sealing rewrites the stores)", file=sys.stderr)
        return 1
    for stage in stages:
        print(" & ".join(" ".join(Path(a).name if a == sys.executable else a for a in job.argv) for job in stage),
              flush=True)
        if args.dry_run:
            continue
        started = time.perf_counter()
        try:
            run_stage(stage, args.log_dir)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
