"""Does a stored sampler run follow from its seed? A provenance check that evaluates nothing.

    python -m smm_bench_collection.replay collection/data/mini_ps/cmaes-s5 [more run folders]
                                          [--sampler-kwargs '{"population_size": 8}']
                                          [--blas-kernel Haswell] [--json] [--save]

A fresh sampler with the run's seed is asked round by round; each round is compared with the
stored slots (generation, batch index) and told the *stored* objective accuracies, as ``collect``
does on resume: a repeated slot resolves to its earliest row (``store.slot_holders``), and a
slot without a row of its own (the run asked a configuration it had already stored) takes
the stored row of that configuration. The check stops at the first round whose asked
configurations differ from the stored ones by more than ``collect.SLOT_TOLERANCE``. A run that
matches through its last stored round can be regenerated from its seed and the stored values
alone; one that diverges can only be resumed from its sampler checkpoint (``samplers/*.pkl``).

CMA-ES and CatCMA runs depend on one machine fact besides their seed: numpy's BLAS kernel
(``smm_bench_plugin.blas`` says why). A run replays on the kernel it was collected on and
diverges from round 1 on another; ``--blas-kernel K`` reruns the check under
``OPENBLAS_CORETYPE=K`` (``Haswell`` runs on any AVX2 CPU; ``SkylakeX`` needs AVX-512).
Rows record their kernel in ``versions`` (older rows do not: docs/PROVENANCE.md), and a divergent run
whose rows name another kernel says which one to pass.

Why this exists: the data card and docs/PROVENANCE.md say which runs are reproducible
from their seed; this command is where that statement comes from. ``--save`` writes each
verdict to ``REPLAY.json`` in the run folder, with the row count it covers, and the card
(``python -m smm_bench_collection.card``) shows it, marked with that count once the run grows.
It costs sampler time only: seconds for CMA-ES, but a TPE run costs as much sampling time as
it did when collected.
Exit status 1 when any run is not reproducible or cannot be checked, 2 when the requested
kernel could not be loaded.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smm_bench_plugin.blas import COMMON_KERNELS, CORETYPE_VARIABLE, blas_kernel, kernel_name, pin_kernel

from .collect import SLOT_TOLERANCE, config_deviation
from .samplers import BLAS_DEPENDENT, make_sampler
from .store import SLOT_COLUMNS, VERDICT_FILE, open_store, recorded_kernels, save_verdict, slot_holders


@dataclass
class ReplayCheck:
    """How far a stored run follows from its seed."""

    folder: str
    sampler: str
    seed: int
    stored_rounds: int  # generations with at least one stored row (the last may be cut by the budget)
    matched_rounds: int  # rounds whose asked configs equal the stored ones within the tolerance
    max_deviation: float  # at the first mismatching round (1.0 counts a changed categorical), else 0.0
    blas: str | None = None  # numpy's BLAS kernel this check ran on
    recorded_blas: list[str] = field(default_factory=list)  # kernels the run's rows record, by first round
    rows: int = 0  # rows in the store when checked: a verdict covers these rows only

    def as_json(self) -> dict[str, Any]:
        """The fields and the verdict, as ``--json`` prints and ``--save`` stores them."""
        return {**asdict(self), "reproducible": self.reproducible}

    @property
    def reproducible(self) -> bool:
        """Every stored round replays, and there was at least one to replay."""
        return self.stored_rounds > 0 and self.matched_rounds == self.stored_rounds


def check_run(folder: str | Path, sampler_kwargs: dict[str, Any] | None = None) -> ReplayCheck:
    """Replay one run folder (one sampler, one seed) against its stored slots.

    ``sampler_kwargs`` are the run's own (e.g. a CMA-ES ``population_size``); a store whose
    rounds are wider than the sampler's batch is refused rather than reported as divergent.
    """
    store = open_store(folder)
    space = store.space
    rows = store.read(columns=[*space.names, "config_id", *SLOT_COLUMNS, "objective_acc", "timestamp",
                               "versions"]).to_pylist()
    runs = sorted({(r["sampler"], r["run_seed"]) for r in rows})
    if len(runs) != 1:
        raise ValueError(f"{folder}: a replay check needs exactly one (sampler, seed) run, found {runs}")
    ((sampler_name, seed),) = runs
    slots = {(g, b): row for (_, _, g, b), row in slot_holders(rows).items()}
    value_of = {r["config_id"]: r["objective_acc"] for r in rows}
    sampler = make_sampler(sampler_name, space, seed, **(sampler_kwargs or {}))
    stored_rounds = max(g for g, _ in slots) + 1
    widest = max(b for _, b in slots) + 1
    widest_whole = max((b for g, b in slots if g < stored_rounds - 1), default=-1) + 1  # the last may be cut
    if widest > sampler.batch_size or 0 < widest_whole < sampler.batch_size:
        raise ValueError(f"{folder}: stored rounds hold up to {widest} configurations but the {sampler_name} "
                         f"sampler asks {sampler.batch_size} per round; pass the run's sampler_kwargs "
                         f"(e.g. --sampler-kwargs '{{\"population_size\": {widest}}}')")
    matched, deviation = 0, 0.0
    for generation in range(stored_rounds):
        configs = sampler.ask()
        values, deviation = [], 0.0
        for index, config in enumerate(configs):
            row = slots.get((generation, index))
            if row is not None:
                deviation = max(deviation, config_deviation(space, config, row))
                values.append(row["objective_acc"])
            else:  # asked before in this run (collect stored it once), or beyond the budget's cut
                values.append(value_of.get(store.config_id(config)))
        if deviation > SLOT_TOLERANCE:
            break
        if None in values:
            if generation == stored_rounds - 1:  # the last round, cut by the budget: nothing to tell
                matched += 1
                deviation = 0.0
                break
            raise ValueError(f"{folder}: round {generation} has a slot with no stored row whose configuration "
                             f"is not in the store either; the store is missing rows (run validate)")
        sampler.tell(configs, values)
        matched += 1
    else:
        deviation = 0.0
    return ReplayCheck(str(folder), sampler_name, seed, stored_rounds, matched, deviation,
                       blas=blas_kernel(), recorded_blas=recorded_kernels(rows), rows=len(value_of))


def save_check(check: ReplayCheck) -> Path:
    """Write the verdict into the run folder (``store.VERDICT_FILE``), where the data card reads it."""
    return save_verdict(check.folder, {**check.as_json(), "folder": Path(check.folder).name})


def verdict(check: ReplayCheck) -> str:
    """One line: how many rounds replay, on which kernel, and what to try when the run diverges."""
    text = (f"{check.folder}: {check.sampler} seed {check.seed}, {check.matched_rounds}/{check.stored_rounds} "
            f"stored rounds replay on {check.blas or 'an unidentified BLAS'}; ")
    if check.reproducible:
        return text + "reproducible from its seed"
    text += f"diverges at round {check.matched_rounds} (max deviation {check.max_deviation:.3g})"
    if check.sampler not in BLAS_DEPENDENT:
        return text
    here = kernel_name(check.blas)
    other = [k for k in check.recorded_blas if k != "unrecorded" and kernel_name(k) not in (None, here)]
    if other:  # kernels, not library versions, decide: an OpenBLAS upgrade on the same kernel is no hint
        text += f"; its rows were collected on {', '.join(other)}: pass --blas-kernel {kernel_name(other[0])}"
    elif "unrecorded" in check.recorded_blas:
        text += ("; its rows do not record their BLAS kernel, on which CMA-family runs depend: try "
                 + " or ".join(f"--blas-kernel {k}" for k in COMMON_KERNELS if k != here))
    return text


def main(argv: list[str] | None = None) -> int:
    """Check every folder named; print one line (or JSON object) each; 1 if any is not reproducible."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="run folders (mini_<space>/<sampler>-s<seed>)")
    ap.add_argument("--sampler-kwargs", type=json.loads, default=None,
                    help="the runs' sampler arguments as JSON, e.g. '{\"population_size\": 8}'")
    ap.add_argument("--blas-kernel", metavar="K",
                    help="replay on this OpenBLAS kernel (e.g. Haswell, SkylakeX) by rerunning under "
                         f"{CORETYPE_VARIABLE}=K; CMA-ES and CatCMA runs replay only on the kernel they were collected on")
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of a line of text")
    ap.add_argument("--save", action="store_true",
                    help=f"write each verdict to <run folder>/{VERDICT_FILE}, which the data card shows")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    if args.blas_kernel:
        pinned = pin_kernel(args.blas_kernel, "smm_bench_collection.replay", argv)
        if pinned is not None:
            return pinned
    status = 0
    for folder in args.folders:
        try:
            check = check_run(folder, args.sampler_kwargs)
        except (ValueError, FileNotFoundError) as exc:
            print(json.dumps({"folder": str(folder), "error": str(exc)}) if args.json else f"{folder}: error: {exc}",
                  flush=True)
            status = 1
            continue
        status |= not check.reproducible
        if args.save:
            save_check(check)
        if args.json:
            print(json.dumps(check.as_json()), flush=True)
        else:
            print(verdict(check), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
