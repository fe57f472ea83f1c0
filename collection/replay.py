"""Does a stored sampler run follow from its seed? A provenance check that evaluates nothing.

    python -m smm_bench_collection.replay collection/data/mini_ps/cmaes-s5 [more run folders]

A fresh sampler with the run's seed is asked round by round; each round is compared with the
stored slots (generation, batch index) and told the *stored* objective accuracies, exactly as
``collect`` does on resume. The check stops at the first round whose asked configurations
differ from the stored ones by more than ``collect.SLOT_TOLERANCE``. A run that matches to its
last complete round can be regenerated from its seed and the stored values alone; one that
diverges can only be resumed from its sampler checkpoint (``samplers/*.pkl``).

Why this exists: the data card and README say which runs are reproducible from their seed;
this command is where that statement comes from. It costs sampler time only (seconds for
CMA-ES, about a minute per 1,000 TPE trials).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .collect import SLOT_TOLERANCE
from .samplers import make_sampler
from .space import FloatParam
from .store import open_store


@dataclass
class ReplayCheck:
    """How far a stored run follows from its seed."""

    folder: str
    sampler: str
    seed: int
    stored_rounds: int  # complete rounds in the store (every slot of the round present)
    matched_rounds: int  # rounds whose asked configs equal the stored ones within the tolerance
    max_deviation: float  # largest |asked - stored| float (or 1.0 for a categorical) at the first mismatch, else 0

    @property
    def reproducible(self) -> bool:
        return self.matched_rounds == self.stored_rounds


def check_run(folder: str | Path) -> ReplayCheck:
    """Replay one run folder (one sampler, one seed) against its stored slots."""
    store = open_store(folder)
    space = store.space
    table = store.read(columns=[*space.names, "sampler", "run_seed", "generation", "batch_index", "objective_acc"])
    rows = table.to_pylist()
    runs = {(r["sampler"], r["run_seed"]) for r in rows}
    if len(runs) != 1:
        raise ValueError(f"{folder}: a replay check needs exactly one (sampler, seed) run, found {sorted(runs)}")
    ((sampler_name, seed),) = runs
    slots = {(r["generation"], r["batch_index"]): r for r in rows}
    sampler = make_sampler(sampler_name, space, seed)
    size = sampler.batch_size
    stored_rounds = 0
    while all((stored_rounds, i) in slots for i in range(size)):
        stored_rounds += 1
    matched, deviation = 0, 0.0
    for generation in range(stored_rounds):
        configs = sampler.ask()
        stored = [slots[(generation, i)] for i in range(len(configs))]
        deviation = max(_deviation(space, c, s) for c, s in zip(configs, stored))
        if deviation > SLOT_TOLERANCE:
            break
        sampler.tell(configs, [s["objective_acc"] for s in stored])
        matched += 1
        deviation = 0.0
    return ReplayCheck(str(folder), sampler_name, seed, stored_rounds, matched, deviation)


def _deviation(space, asked: dict, stored: dict) -> float:
    return max(abs(float(asked[p.name]) - float(stored[p.name])) if isinstance(p, FloatParam)
               else float(asked[p.name] != stored[p.name]) for p in space.params)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="run folders (mini_<space>/<sampler>-s<seed>)")
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    args = ap.parse_args(argv)
    for folder in args.folders:
        check = check_run(folder)
        if args.json:
            print(json.dumps({**asdict(check), "reproducible": check.reproducible}), flush=True)
        else:
            verdict = "reproducible from its seed" if check.reproducible else (
                f"diverges at round {check.matched_rounds} (max deviation {check.max_deviation:.3g})")
            print(f"{folder}: {check.sampler} seed {check.seed}, {check.matched_rounds}/{check.stored_rounds} "
                  f"complete rounds replay; {verdict}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
