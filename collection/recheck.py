"""Does a stored true evaluation come out the same here? A provenance check of the objective itself.

    python -m smm_bench_collection.recheck collection/data/mini_ps/random-s0 [more run folders]
                                           [--rows 8] [--family mini] [--engine batched|fast]
                                           [--decode-attention bmm|broadcast] [--device cpu]
                                           [--batch 16] [--json] [--save report.json]

``replay`` checks that a run's configurations follow from its seed; this checks that the values
stored for them follow from the configurations. It takes ``--rows`` rows of each run folder,
spread evenly over the run (its first and last slot included), evaluates them again with the
family's evaluator (``--batch`` rows per ``evaluate_batch`` call) and compares every per-item
bit (correct, number right, Japanese; objective and test set) with the stored ones.

Why this exists: the true mini objective is a fixed function of the configuration only as long
as the arithmetic is done in the same order. The stored rows come from machines on different
BLAS kernels and from engine versions 1 and 2 (``engine_version.py``, recorded in each row's
``versions``), and the default engine is version 3. Greedy decoding turns a rounding difference
into another answer only at a near tie of two tokens; this command counts how often that
happens, and docs/collection.md's statement that re-evaluated rows reproduce comes from it.

Every item that differs (a *flip*) is explained: the engine's answer to that prompt, the
reference engine's (version 2, ``fastlm``) on this machine, and the Hugging Face model's top-2
logit margin along the answer (its smallest, and where the two engines part); a flip at a
margin of round-off size is a near tie, anything else is a finding. ``--save`` writes the
verdicts and flips to a JSON file after every folder (``collection/rechecks/`` holds the bundled
data's, the command that made each in its first field); the same command run again after a kill
resumes after the folders that file holds.
It costs one true evaluation per row. Exit status 1 when any item differs or a folder cannot be
checked.
"""
from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .store import FLAGS, SETS, SLOT_COLUMNS, _atomic_write_text, open_store, set_result_from_row

NEAR_TIE = 1e-3
"""A top-2 logit margin below this is a near tie: float32 round-off of a 32- to 64-layer net reaches
~1e-5 on these logits (tests), so such a flip is explained by the order of the arithmetic."""


@dataclass
class Flip:
    """One item whose stored flags differ from the re-evaluation, and what explains it."""

    config_id: str
    set: str
    item: int
    stored: dict[str, bool]
    now: dict[str, bool]
    reference_agrees_with: str  # "stored" | "now" | "neither": version 2 on this machine
    engines_part_at: int | None  # first answer token where this engine and version 2 differ (None: same answer)
    margin_where_they_part: float | None  # Hugging Face top-2 logit margin there
    smallest_margin: float  # smallest top-2 margin along this engine's answer
    smallest_margin_at: int

    @property
    def near_tie(self) -> bool:
        margin = self.margin_where_they_part if self.margin_where_they_part is not None else self.smallest_margin
        return margin < NEAR_TIE


@dataclass
class RecheckResult:
    """How many re-evaluated rows of one run folder reproduce their stored per-item bits."""

    folder: str
    family_id: str
    engine: str  # "hf", "fast/<decode attention>" or "batched" (engine_version.ENGINES)
    engine_version: str | None
    rows_checked: int
    rows_identical: int
    items_differing: int  # (row, set, item) triples where any of the three flags differs
    max_accuracy_change: float  # largest |objective or test accuracy now - stored| over the rows
    stored_engine_versions: dict[str, int] = field(default_factory=dict)  # versions["fastlm"] of the rows checked
    flips: list[Flip] = field(default_factory=list)

    @property
    def reproducible(self) -> bool:
        return self.rows_checked > 0 and self.rows_identical == self.rows_checked

    def as_json(self) -> dict[str, Any]:
        out = {**asdict(self), "reproducible": self.reproducible}
        out["flips"] = [{**asdict(f), "near_tie": f.near_tie} for f in self.flips]
        return out


def spread_rows(rows: Sequence[Mapping[str, Any]], n: int) -> list[Mapping[str, Any]]:
    """``n`` rows evenly spaced over the run's slot order (first and last included), or all rows."""
    ordered = sorted(rows, key=lambda r: (r["generation"], r["batch_index"], r["config_id"]))
    if n >= len(ordered):
        return list(ordered)
    picks = sorted(set(np.linspace(0, len(ordered) - 1, n).round().astype(int).tolist()))
    return [ordered[i] for i in picks]


def _differ(row: Mapping[str, Any], result, s: str) -> np.ndarray:
    stored, now = set_result_from_row(row, s), getattr(result, s)
    if now.n_items != stored.n_items:
        raise ValueError(f"the {s} set has {now.n_items} items here but {stored.n_items} in the row")
    differ = np.zeros(stored.n_items, dtype=bool)
    for flag in FLAGS:
        differ |= getattr(stored, flag) != getattr(now, flag)
    return differ


def differing_items(row: Mapping[str, Any], result) -> tuple[int, float]:
    """Items whose flags differ between a stored row and a fresh ``EvalResult``, and the largest accuracy change."""
    items, change = 0, 0.0
    for s in SETS:
        items += int(_differ(row, result, s).sum())
        stored, now = set_result_from_row(row, s), getattr(result, s)
        change = max(change, abs(now.accuracy - stored.accuracy))
    return items, change


def _margins(model, prompt: Sequence[int], answer: Sequence[int]) -> np.ndarray:
    """Hugging Face top-2 logit margin at each answer step (teacher-forced on ``answer``)."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([list(prompt) + list(answer)])).logits[0, len(prompt) - 1:]
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).double().numpy()


class FlipExplainer:
    """Explains flips of one space: this engine's and version 2's answers, Hugging Face margins."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self._reference = None

    def reference(self):
        if self._reference is None:
            from .evaluate import MergeEvaluator

            ev = self.evaluator
            self._reference = MergeEvaluator(ev.space, ev.family, engine="fast", batch_size=ev.batch_size)
        return self._reference

    def explain(self, row: Mapping[str, Any], config: Mapping[str, Any], result) -> list[Flip]:
        ev = self.evaluator
        ref = self.reference()
        mine, theirs = ev.answer_tokens(dict(config)), ref.answer_tokens(dict(config))
        ref_result = ref.evaluate(dict(config))
        model = ev.model_for(dict(config))
        prompts = ev._rows["objective"] + ev._rows["test"]
        flips = []
        for s in SETS:
            offset = 0 if s == "objective" else len(ev._rows["objective"])
            stored = set_result_from_row(row, s)
            for item in np.flatnonzero(_differ(row, result, s)).tolist():
                flags = {f: bool(getattr(stored, f)[item]) for f in FLAGS}
                now = {f: bool(getattr(getattr(result, s), f)[item]) for f in FLAGS}
                there = {f: bool(getattr(getattr(ref_result, s), f)[item]) for f in FLAGS}
                agrees = "stored" if there == flags else "now" if there == now else "neither"
                a, b = mine[offset + item], theirs[offset + item]
                part = next((k for k, (x, y) in enumerate(zip(a + [None], b + [None])) if x != y), None)
                margins = _margins(model, prompts[offset + item], a)
                flips.append(Flip(row["config_id"], s, item, flags, now, agrees, part,
                                  float(margins[part]) if part is not None and part < len(margins) else None,
                                  float(margins.min()), int(margins.argmin())))
        return flips


def recheck_folder(folder: str | Path, evaluator, n_rows: int = 8, batch: int = 16,
                   explainer: FlipExplainer | None = None) -> RecheckResult:
    """Re-evaluate ``n_rows`` rows of one store folder with ``evaluator`` (a ``MergeEvaluator``)."""
    from .types import evaluate_all

    store = open_store(folder)
    if evaluator.family_id != store.family_id:
        raise ValueError(f"{folder}: its rows are of family {store.family_id!r}, the evaluator's is "
                         f"{evaluator.family_id!r} (pass the family the rows were collected with)")
    if evaluator.space != store.space.name:
        raise ValueError(f"{folder}: a {store.space.name} store, the evaluator evaluates {evaluator.space}")
    names = store.space.names
    columns = [*names, "config_id", "versions", *SLOT_COLUMNS,
               *(f"{s}_{c}" for s in SETS for c in ("n_items", *(f"{f}_bits" for f in FLAGS)))]
    rows = spread_rows(store.read(columns=columns).to_pylist(), n_rows)
    versions: dict[str, int] = {}
    for row in rows:
        v = json.loads(row["versions"]).get("fastlm", "unrecorded")
        versions[v] = versions.get(v, 0) + 1
    identical, items, change, flips = 0, 0, 0.0, []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        configs = [{name: row[name] for name in names} for row in chunk]
        for row, config, result in zip(chunk, configs, evaluate_all(evaluator, configs)):
            n, c = differing_items(row, result)
            identical += n == 0
            items += n
            change = max(change, c)
            if n and explainer is not None:
                flips += explainer.explain(row, config, result)
    engine = evaluator.engine if evaluator.engine != "fast" else f"fast/{evaluator.decode_attention}"
    return RecheckResult(str(folder), store.family_id, engine, evaluator.engine_version, len(rows), identical, items,
                         change, dict(sorted(versions.items())), flips)


def verdict(result: RecheckResult) -> str:
    text = (f"{result.folder}: {result.rows_identical}/{result.rows_checked} re-evaluated rows give the stored "
            f"per-item bits (engine {result.engine})")
    if result.reproducible:
        return text
    text += f"; {result.items_differing} items differ, accuracy moves by up to {result.max_accuracy_change:.4f}"
    for f in result.flips:
        where = (f"the engines part at answer token {f.engines_part_at} (margin {f.margin_where_they_part:.2e})"
                 if f.engines_part_at is not None and f.margin_where_they_part is not None
                 else f"same answer from version 2 (smallest margin {f.smallest_margin:.2e} at token "
                      f"{f.smallest_margin_at})")
        text += (f"\n  {f.config_id} {f.set} item {f.item}: stored {f.stored}, now {f.now}; version 2 here agrees "
                 f"with {f.reference_agrees_with}; {where}; {'near tie' if f.near_tie else 'NOT a near tie'}")
    return text


def save_report(results: list[RecheckResult], path: Path, command: str,
                earlier: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write every folder's verdict and flips to ``path`` (JSON), with the machine and the command.

    ``earlier``: folders (their JSON) a killed run of the same command had finished, kept first.
    """
    import torch

    from smm_bench_plugin.blas import blas_kernel

    folders = [*earlier, *(r.as_json() for r in results)]
    report = {"command": command, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                          "blas": blas_kernel()},
              **{key: sum(f[key] for f in folders) for key in ("rows_checked", "rows_identical", "items_differing")},
              "flips_near_tie": sum(flip["near_tie"] for f in folders for flip in f["flips"]),
              "folders": folders}
    _atomic_write_text(json.dumps(report, indent=1) + "\n", Path(path))
    return path


def finished_folders(path: Path | None, command: str) -> dict[str, dict[str, Any]]:
    """The folders a saved report of the same ``command`` holds (a killed recheck resumes after them)."""
    if path is None or not Path(path).is_file():
        return {}
    report = json.loads(Path(path).read_text())
    return {f["folder"]: f for f in report["folders"]} if report.get("command") == command else {}


def main(argv: list[str] | None = None) -> int:
    """Recheck every folder named; print one line (or JSON object) each; 1 if any differs."""
    import sys

    from .collect import build_merge_evaluator
    from .engine_version import DECODE_ATTENTION

    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="run folders (mini_<space>/<sampler>-s<seed>)")
    ap.add_argument("--rows", type=int, default=8, help="rows per folder, spread over the run (default 8)")
    ap.add_argument("--family", default="mini", help="the family the rows were collected with (default mini)")
    ap.add_argument("--engine", choices=("batched", "fast"), default=None,
                    help="decoding engine (default: the family's, batched = version 3; fast = versions 2 and 1)")
    ap.add_argument("--decode-attention", choices=DECODE_ATTENTION, default="bmm",
                    help="the fast engine's decoding attention (bmm: engine version 2; broadcast: version 1)")
    ap.add_argument("--device", default="cpu", help="torch device of the batched engine (default cpu)")
    ap.add_argument("--batch", type=int, default=16, help="rows evaluated per batch (default 16)")
    ap.add_argument("--json", action="store_true", help="one JSON object per folder instead of a line of text")
    ap.add_argument("--save", type=Path, default=None, help="write every verdict and flip to this JSON file")
    args = ap.parse_args(argv)
    if args.rows < 1:
        ap.error(f"--rows must be at least 1, got {args.rows}")
    if args.batch < 1:
        ap.error(f"--batch must be at least 1, got {args.batch}")
    kwargs: dict[str, Any] = {"decode_attention": args.decode_attention}
    if args.engine:
        kwargs["engine"] = args.engine
    if args.device != "cpu":
        kwargs["device"] = args.device
    command = "python -m smm_bench_collection.recheck " + " ".join(argv)
    evaluators: dict[str, Any] = {}  # one per space: loading the family is the slow part
    explainers: dict[str, FlipExplainer] = {}
    status, results = 0, []
    earlier = finished_folders(args.save, command)
    for folder in args.folders:
        if str(folder) in earlier:
            done = earlier[str(folder)]
            status |= not done["reproducible"]
            print(json.dumps(done) if args.json else f"{folder}: in {args.save} already "
                  f"({done['rows_identical']}/{done['rows_checked']} rows identical)", flush=True)
            continue
        try:
            space = open_store(folder).space.name
            if space not in evaluators:
                evaluators[space] = build_merge_evaluator(space, args.family, **kwargs)
                explainers[space] = FlipExplainer(evaluators[space])
            result = recheck_folder(folder, evaluators[space], args.rows, args.batch, explainers[space])
        except (ValueError, FileNotFoundError) as exc:
            print(json.dumps({"folder": str(folder), "error": str(exc)}) if args.json else f"{folder}: error: {exc}",
                  flush=True)
            status = 1
            continue
        status |= not result.reproducible
        results.append(result)
        print(json.dumps(result.as_json()) if args.json else verdict(result), flush=True)
        if args.save is not None:  # after every folder: a killed recheck keeps the folders it finished
            save_report(results, args.save, command, list(earlier.values()))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
