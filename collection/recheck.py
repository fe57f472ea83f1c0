"""Does a stored true evaluation come out the same here? A provenance check of the objective itself.

    python -m smm_bench_collection.recheck collection/data/mini_ps/random-s0 [more run folders]
                                           [--rows 8] [--family mini]
                                           [--decode-attention bmm|broadcast] [--json]

``replay`` checks that a run's configurations follow from its seed; this checks that the values
stored for them follow from the configurations. It takes ``--rows`` rows of each run folder,
spread evenly over the run (its first and last slot included), evaluates them again with the
family's evaluator and compares every per-item bit (correct, number right, Japanese; objective
and test set) with the stored ones.

Why this exists: the true mini objective is a fixed function of the configuration only as long
as the arithmetic is done in the same order. The stored rows come from machines on different
BLAS kernels, and the mini engine changed its decoding attention (``engine_version.ENGINE_VERSION`` 2,
recorded in each row's ``versions``) while the collection was under way. Greedy decoding turns
a rounding difference into another answer only at a near tie of two tokens; this command
counts how often that happens, and the statement in docs/collection.md that re-evaluated rows reproduce
comes from it. It costs one true evaluation per row (seconds on the mini family).
Exit status 1 when any item differs or a folder cannot be checked.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .store import FLAGS, SETS, SLOT_COLUMNS, open_store, set_result_from_row


@dataclass
class RecheckResult:
    """How many re-evaluated rows of one run folder reproduce their stored per-item bits."""

    folder: str
    family_id: str
    engine: str  # "hf", or "fast/<decode attention>" (engine_version.DECODE_ATTENTION)
    rows_checked: int
    rows_identical: int
    items_differing: int  # (row, set, item) triples where any of the three flags differs
    max_accuracy_change: float  # largest |objective or test accuracy now - stored| over the rows

    @property
    def reproducible(self) -> bool:
        return self.rows_checked > 0 and self.rows_identical == self.rows_checked

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "reproducible": self.reproducible}


def spread_rows(rows: Sequence[Mapping[str, Any]], n: int) -> list[Mapping[str, Any]]:
    """``n`` rows evenly spaced over the run's slot order (first and last included), or all rows."""
    ordered = sorted(rows, key=lambda r: (r["generation"], r["batch_index"], r["config_id"]))
    if n >= len(ordered):
        return list(ordered)
    picks = sorted(set(np.linspace(0, len(ordered) - 1, n).round().astype(int).tolist()))
    return [ordered[i] for i in picks]


def differing_items(row: Mapping[str, Any], result) -> tuple[int, float]:
    """Items whose flags differ between a stored row and a fresh ``EvalResult``, and the largest accuracy change."""
    items, change = 0, 0.0
    for s in SETS:
        stored, now = set_result_from_row(row, s), getattr(result, s)
        if now.n_items != stored.n_items:
            raise ValueError(f"the {s} set has {now.n_items} items here but {stored.n_items} in the row")
        differ = np.zeros(stored.n_items, dtype=bool)
        for flag in FLAGS:
            differ |= getattr(stored, flag) != getattr(now, flag)
        items += int(differ.sum())
        change = max(change, abs(now.accuracy - stored.accuracy))
    return items, change


def recheck_folder(folder: str | Path, evaluator, n_rows: int = 8) -> RecheckResult:
    """Re-evaluate ``n_rows`` rows of one store folder with ``evaluator`` (a ``MergeEvaluator``)."""
    store = open_store(folder)
    if evaluator.family_id != store.family_id:
        raise ValueError(f"{folder}: its rows are of family {store.family_id!r}, the evaluator's is "
                         f"{evaluator.family_id!r} (pass the family the rows were collected with)")
    if evaluator.space != store.space.name:
        raise ValueError(f"{folder}: a {store.space.name} store, the evaluator evaluates {evaluator.space}")
    names = store.space.names
    columns = [*names, "config_id", *SLOT_COLUMNS,
               *(f"{s}_{c}" for s in SETS for c in ("n_items", *(f"{f}_bits" for f in FLAGS)))]
    rows = spread_rows(store.read(columns=columns).to_pylist(), n_rows)
    identical, items, change = 0, 0, 0.0
    for row in rows:
        n, c = differing_items(row, evaluator.evaluate({name: row[name] for name in names}))
        identical += n == 0
        items += n
        change = max(change, c)
    engine = evaluator.engine if evaluator.engine != "fast" else f"fast/{evaluator.decode_attention}"
    return RecheckResult(str(folder), store.family_id, engine, len(rows), identical, items, change)


def verdict(result: RecheckResult) -> str:
    text = (f"{result.folder}: {result.rows_identical}/{result.rows_checked} re-evaluated rows give the stored "
            f"per-item bits (engine {result.engine})")
    if result.reproducible:
        return text
    return text + f"; {result.items_differing} items differ, accuracy moves by up to {result.max_accuracy_change:.4f}"


def main(argv: list[str] | None = None) -> int:
    """Recheck every folder named; print one line (or JSON object) each; 1 if any differs."""
    from .collect import build_merge_evaluator
    from .engine_version import DECODE_ATTENTION

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="run folders (mini_<space>/<sampler>-s<seed>)")
    ap.add_argument("--rows", type=int, default=8, help="rows per folder, spread over the run (default 8)")
    ap.add_argument("--family", default="mini", help="the family the rows were collected with (default mini)")
    ap.add_argument("--decode-attention", choices=DECODE_ATTENTION, default="bmm",
                    help="the fast engine's decoding attention (bmm: engine version 2; broadcast: version 1)")
    ap.add_argument("--json", action="store_true", help="one JSON object per folder instead of a line of text")
    args = ap.parse_args(argv)
    if args.rows < 1:
        ap.error(f"--rows must be at least 1, got {args.rows}")
    evaluators: dict[str, Any] = {}  # one per space: loading the family is the slow part
    status = 0
    for folder in args.folders:
        try:
            space = open_store(folder).space.name
            if space not in evaluators:
                evaluators[space] = build_merge_evaluator(space, args.family, decode_attention=args.decode_attention)
            result = recheck_folder(folder, evaluators[space], args.rows)
        except (ValueError, FileNotFoundError) as exc:
            print(json.dumps({"folder": str(folder), "error": str(exc)}) if args.json else f"{folder}: error: {exc}",
                  flush=True)
            status = 1
            continue
        status |= not result.reproducible
        print(json.dumps(result.as_json()) if args.json else verdict(result), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
