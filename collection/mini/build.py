"""Build the whole mini family, resumably: base -> experts -> gates -> model A.

    python -m smm_bench_collection.mini.build [--threads 1]

Each stage is skipped when its output exists and resumes from its checkpoint when it was
killed, so re-running the command after any interruption finishes the job. The two experts
train in parallel (one process and one thread each).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..family import MINI_DIR

FAMILY_VERSION = "v1"


def _done(stage_dir: Path) -> bool:
    return (stage_dir / "model.safetensors").exists() and (stage_dir / "recipe.json").exists()


def _train(stage: str, models: Path, threads: int) -> subprocess.Popen | None:
    out = models / stage
    if _done(out):
        return None
    cmd = [sys.executable, "-m", "smm_bench_collection.mini.train", "--stage", stage, "--out", str(out),
           "--threads", str(threads)]
    if stage != "base":
        cmd += ["--init", str(models / "base")]
    log = open(models / f"{stage}.log", "a")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def build(models: Path = MINI_DIR, threads: int = 1, run_gates: bool = True) -> None:
    """Train what is missing, record the family, then (optionally) gates and model A."""
    models.mkdir(parents=True, exist_ok=True)
    for stage_group in (["base"], ["math", "ja"]):
        procs = [p for p in (_train(s, models, threads) for s in stage_group) if p is not None]
        if any(p.wait() != 0 for p in procs):
            raise SystemExit(f"training of {stage_group} failed; see {models}/*.log")
    (models / "family.json").write_text(json.dumps({
        "version": FAMILY_VERSION, "stages": {s: json.loads((models / s / "recipe.json").read_text())
                                              for s in ("base", "math", "ja")}}, indent=1))
    if run_gates and not (models / "A" / "model.safetensors").exists():
        from .gates import main as gates_main, save_model_a

        sys.argv = [sys.argv[0]]
        gates_main()
        report = json.loads((Path(__file__).parent / "gates.json").read_text())
        save_model_a(report["cmaes"]["best_config"], models)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=MINI_DIR)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-gates", action="store_true")
    a = ap.parse_args()
    build(a.models, a.threads, not a.no_gates)


if __name__ == "__main__":
    main()
