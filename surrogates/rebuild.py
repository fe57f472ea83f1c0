"""Rebuild the bundled scenarios from the collected data: one command for the whole chain.

    python -m smm_bench_surrogates.rebuild [--spaces ps dfs] [--from train|report|readme] [--bench] [--dry-run]

The chain, in the order data flows (README, "Bundled scenarios"):

1. ``seal``: ``python -m smm_bench_collection.plan --space S --seal`` per space, then the dataset
   card (``python -m smm_bench_collection.card``). Sealing refuses while a collection runner
   holds a store's lock, so a rebuild never trains on rows still being written.
2. ``train``: ``smm-bench train`` per space with the arguments the bundled scenario was built
   with (trials, seed, ensemble rule, derived features: read from its ``meta.json``), on every
   row there is now.
3. ``report``: the validity report per space (``python -m smm_bench_surrogates.report``).
4. ``readme``: the README's bundled-scenarios block (``python -m smm_bench_surrogates.summary
   --readme README.md``), and with ``--bench`` the performance block (``python -m bench --readme``).

Spaces run side by side (one process each: the machine this was built on has 2 cores), each
step's output goes to ``<log dir>/<step>-<space>.log``, and a failed step stops the chain with
its log named. ``--from`` restarts the chain at a step after an interruption: every step
rewrites its outputs whole, so rerunning one is safe. Why a module and not a shell script:
the commands are the ones the README and each ``REPORT.md`` print, built here from the same
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

REPO = Path(__file__).resolve().parents[1]
STEPS = ("seal", "train", "report", "readme")

BUNDLED = {"ps": "surrogates/scenarios/smm_ps_mini", "dfs": "surrogates/scenarios/smm_dfs_mini"}


def train_argv(space: str) -> tuple[str, ...]:
    """The bundled scenario's own train command (its REPORT.md prints it), on every row there is now.

    Built from the scenario's ``meta.json`` by the report's ``_train_command``, so trials, seed,
    ensemble rule and derived features are what the shipped model recorded, not a second copy
    of them here; ``--until`` (which pins the rows of the last build) is dropped.
    """
    from .report import _train_command

    scenario = REPO / BUNDLED[space]
    meta = json.loads((scenario / "meta.json").read_text(encoding="utf-8"))
    command = _train_command(BUNDLED[space], space, meta)
    if command is None:
        raise ValueError(f"{scenario}/meta.json does not record how it was trained (dataset, trials)")
    words = shlex.split(command)
    if "--until" in words:
        i = words.index("--until")
        del words[i:i + 2]
    assert words[:2] == ["smm-bench", "train"], words
    return (sys.executable, "-m", "smm_bench_plugin.cli", *words[1:])


def data_dir(space: str) -> str:
    """The collection folder the bundled scenario was trained on (its provenance)."""
    meta = json.loads((REPO / BUNDLED[space] / "meta.json").read_text(encoding="utf-8"))
    return meta["provenance"]["dataset"]


@dataclass(frozen=True)
class Job:
    """One command of the chain: which step, for which space (None: once for all)."""

    step: str
    space: str | None
    argv: tuple[str, ...]

    @property
    def log_name(self) -> str:
        return f"{self.step}-{self.space or 'all'}"


def plan_jobs(spaces: list[str], start: str = "seal", bench: bool = False) -> list[list[Job]]:
    """The chain as stages; the jobs of one stage run side by side."""
    py = sys.executable
    stages: dict[str, list[Job]] = {
        "seal": [Job("seal", s, (py, "-m", "smm_bench_collection.plan", "--space", s, "--seal")) for s in spaces],
        "card": [Job("card", None, (py, "-m", "smm_bench_collection.card"))],
        "train": [Job("train", s, train_argv(s)) for s in spaces],
        "report": [Job("report", s, (py, "-m", "smm_bench_surrogates.report", "--scenario", BUNDLED[s],
                                     "--data", data_dir(s))) for s in spaces],
        "readme": [Job("readme", None, (py, "-m", "smm_bench_surrogates.summary", "--readme", "README.md"))],
    }
    if bench:
        stages["bench"] = [Job("bench", None, (py, "-m", "bench", "--readme", "README.md"))]
    order = ["seal", "card", "train", "report", "readme", "bench"]
    first = order.index(start)
    return [stages[name] for name in order[first:] if name in stages]


def run_stage(jobs: list[Job], log_dir: Path) -> None:
    """Run one stage's jobs in parallel; raise naming the first failed job and its log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    running = []
    for job in jobs:
        log = log_dir / f"{job.log_name}.log"
        with open(log, "w", encoding="utf-8") as fh:
            running.append((job, log, subprocess.Popen(job.argv, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)))
    failed = [(job, log, proc.wait()) for job, log, proc in running]
    for job, log, code in failed:
        if code != 0:
            raise RuntimeError(f"{job.log_name} failed (exit {code}); see {log}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spaces", nargs="+", choices=sorted(BUNDLED), default=sorted(BUNDLED, reverse=True))
    ap.add_argument("--from", dest="start", choices=STEPS, default="seal", help="first step to run")
    ap.add_argument("--bench", action="store_true", help="also rerun the performance suite and its README block")
    ap.add_argument("--log-dir", type=Path, default=REPO / "surrogates" / "rebuild-logs")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args(argv)
    stages = plan_jobs(args.spaces, args.start, args.bench)
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
