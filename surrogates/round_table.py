"""The end-point check round by round, printed from the records: the table of docs/endpoints.md.

    python -m smm_bench_surrogates.round_table [SCENARIO ...] [--doc docs/endpoints.md]

An exploitation round (``smm_bench_collection.exploit``) adds true evaluations where optimisers
end; whether it helped is decided by the end-point check of the retrain, never by the held-out
split. Each check of a candidate is a record in ``surrogates/rounds/<scenario>-r<N>[-<variant>].json``
(written by ``python -m smm_bench_surrogates.endpoints FOLDER --out ...``, with the command that
rebuilds the candidate); the bundled model's check is in its ``report.json``. This command lays
them side by side, so the gap against true evaluations spent is read from files anyone can
regenerate, not typed by hand.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ROUNDS_DIR = REPO / "surrogates" / "rounds"
DATA_DIR = REPO / "collection" / "data"
BEGIN = "<!-- rounds:begin (python -m smm_bench_surrogates.round_table --doc docs/endpoints.md) -->"
END = "<!-- rounds:end -->"
DEFAULT_SCENARIOS = ("smm_ps_mini", "smm_dfs_mini")
_RECORD = re.compile(r"-r(\d+)(?:-([a-z0-9]+))?$")


def round_records(scenario: str, rounds_dir: Path = ROUNDS_DIR) -> list[tuple[str, int, dict[str, Any]]]:
    """(label, round, record) of every recorded round in order (round 0: the model before any
    exploitation round); the bundled model's own check is a column of its own unless a round's
    record is of the same model, which is then labelled as the bundled one."""
    from smm_bench_plugin import load

    from .endpoints import held_out_objective

    bench = load(scenario)
    report = Path(bench.path) / "report.json"
    bundled = json.loads(report.read_text()).get("endpoints") if report.exists() else None
    found = []
    for path in rounds_dir.glob(f"{scenario}-r*.json"):
        m = _RECORD.search(path.stem)
        if m and path.stem[:m.start()] == scenario:
            found.append((int(m.group(1)), m.group(2) or "", path))
    out = []
    for n, variant, path in sorted(found):
        record = json.loads(path.read_text())
        shipped = bool(bundled) and record["model"] == bundled.get("model")
        out.append((f"round {n}" + (f" ({variant})" if variant else "") + (", bundled" if shipped else ""), n, record))
    if bundled and not bundled.get("skipped") and not any(label.endswith(", bundled") for label, _, _ in out):
        out.insert(0, ("bundled", 0, {"held_out": held_out_objective(bench.meta), **bundled}))
    return out


def exploit_rows(space: str, through: int, data_dir: Path = DATA_DIR) -> int:
    """True evaluations the exploitation rounds 1..``through`` of ``space`` planned (their ROUND.json)."""
    total = 0
    for n in range(1, through + 1):
        plan = data_dir / f"mini_{space}" / f"exploit-s{n}" / "ROUND.json"
        if plan.exists():
            total += len({json.dumps(c["config"], sort_keys=True) for c in json.loads(plan.read_text())["configs"]})
    return total


def _gap(record: dict[str, Any], budget: str, name: str) -> str:
    o = record["by_budget"].get(budget, {}).get("optimizers", {}).get(name)
    if o is None:
        return "not run"
    mark = "" if o["gap_mean"] <= record["goals"]["max_mean_gap"] else " ✗"
    return f"{o['gap_mean']:+.3f}{mark}"


def cells_summary(record: dict[str, Any], cells: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """One record over ``cells`` (budget, optimiser): mean signed gap, cells above the gap goal, runs at
    the clip, and the fresh random and held-out objective R² when the record has them. The round table's
    summary rows and the end-point comparison of two records (:func:`.select.compare_endpoints`) read it."""
    opts = [record["by_budget"][budget]["optimizers"][name] for budget, name in cells]
    goal = (record.get("goals") or {}).get("max_mean_gap")
    fresh = ((record.get("fresh_random") or {}).get("objective") or {}).get("r2")
    return {"cells": len(opts), "mean_gap": sum(o["gap_mean"] for o in opts) / len(opts) if opts else None,
            "cells_over_goal": None if goal is None else sum(o["gap_mean"] > goal for o in opts),
            "runs_at_clip": sum(int(o.get("at_clip") or 0) for o in opts),
            "fresh_random_r2": fresh, "held_out_r2": (record.get("held_out") or {}).get("r2")}


def cell_mean_draws(record: dict[str, Any], cells: Sequence[tuple[str, str]], seed: int = 0) -> np.ndarray:
    """Bootstrap draws of the mean gap over ``cells``: each cell's seeds resampled on their own, as the
    check's per-cell intervals are (:data:`.endpoints.BOOTSTRAP` draws)."""
    from .endpoints import BOOTSTRAP

    rng = np.random.default_rng(seed)
    draws = np.zeros(BOOTSTRAP)
    for budget, name in cells:
        o = record["by_budget"][budget]["optimizers"][name]
        gaps = np.subtract(o["surrogate"], o["true"])
        draws += rng.choice(gaps, size=(BOOTSTRAP, gaps.size)).mean(1)
    return draws / len(cells)


def _interval(draws: np.ndarray, point: float) -> str:
    from .endpoints import INTERVAL

    lo, hi = np.quantile(draws, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
    return f"{point:+.3f} ({lo:+.3f} to {hi:+.3f})"


def _order(record: dict[str, Any]) -> str:
    words = []
    for budget, b in record["by_budget"].items():
        o = b["order"]
        words.append(f"{int(budget):,}: " + ("same" if o["same_order"] else "ties" if o["agrees_up_to_ties"] else "differs"))
    return "; ".join(words)


def round_table(scenario: str, rounds_dir: Path = ROUNDS_DIR, data_dir: Path = DATA_DIR) -> list[str]:
    """Markdown lines: rows (budget, optimiser) and summary rows, a column per record."""
    records = round_records(scenario, rounds_dir)
    if not records:
        return [f"`{scenario}`: no end-point check recorded yet."]
    space = records[0][2]["space"]
    cells: list[tuple[str, str]] = []
    for _, _, r in records:
        for budget in r["by_budget"]:
            cells += [(budget, name) for name in r["optimizers"] if (budget, name) not in cells]
    head = "| budget | optimiser | " + " | ".join(f"{label} `{r['model'][:8]}`" for label, _, r in records) + " |"
    lines = [head, "|---|---|" + "---|" * len(records)]
    for budget, name in cells:
        lines.append(f"| {int(budget):,} | {name} | " + " | ".join(_gap(r, budget, name) for _, _, r in records) + " |")

    def row(title: str, values: Sequence[str]) -> None:
        lines.append(f"| {title} | | " + " | ".join(values) + " |")

    common = [(b, n) for b, n in cells if all(n in r["by_budget"].get(b, {}).get("optimizers", {}) for _, _, r in records)]
    means = [cells_summary(r, common)["mean_gap"] for _, _, r in records]
    row(f"mean gap over the {len(common)} cells every column ran", [f"{m:+.3f}" if common else "—" for m in means])
    if common:  # how far apart two columns' means are, against what five seeds per cell resolve
        draws = [cell_mean_draws(r, common, seed=i) for i, (_, _, r) in enumerate(records)]
        row("its 90% interval (seeds resampled per cell)", [_interval(d, m) for d, m in zip(draws, means)])
        row("change from the column before (90% interval)", ["—"] + [
            _interval(draws[i] - draws[i - 1], means[i] - means[i - 1]) for i in range(1, len(records))])
    row("runs at the clip", [str(sum(o["at_clip"] for b in r["by_budget"].values() for o in b["optimizers"].values()))
                             for _, _, r in records])
    row("order (budget: surrogate vs true)", [_order(r) for _, _, r in records])
    row("fresh random R² / tau (rows)", [
        f"{fr['r2']:.3f} / {fr['kendall_tau']:.3f} ({r['true_evaluations']['fresh_random']})"
        if (fr := (r.get("fresh_random") or {}).get("objective")) else "—" for _, _, r in records])
    row("held-out R² / tau (model's own split)", [
        f"{h['r2']:.3f} / {h['kendall_tau']:.3f} ({h.get('ensemble') or '?'})" if (h := r.get("held_out")) else "—"
        for _, _, r in records])
    row("exploitation rows in its training", [f"{exploit_rows(space, n, data_dir):,}" for _, n, _ in records])
    row("cells left out", [", ".join(r.get("cells_skipped") or []) or "none" for _, _, r in records])
    return lines


def rounds_block(scenarios: Sequence[str] = DEFAULT_SCENARIOS) -> str:
    """What sits between the rounds markers of docs/endpoints.md."""
    parts = []
    for s in scenarios:
        parts.append(f"`{s}` (gap = mean surrogate minus true at each run's best; ✗ = above the goal):\n\n"
                     + "\n".join(round_table(s)))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", default=list(DEFAULT_SCENARIOS))
    ap.add_argument("--doc", type=Path, default=None, help="rewrite this document's rounds block")
    a = ap.parse_args(argv)
    block = rounds_block(a.scenarios)
    if a.doc:
        from smm_bench_plugin.docblocks import replace_block

        replace_block(a.doc, BEGIN, END, block)
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
