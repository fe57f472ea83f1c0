"""Summaries of a collected dataset: rows per sampler run, accuracy statistics, throughput.

    python -m smm_bench_collection.stats collection/data/mini_ps

Every figure about the datasets in README, docs/ and the dataset card comes from this command. The
throughput is derived from the rows' own ``eval_seconds`` (wall time of each true evaluation,
merge + generation + judge), so it describes the machine and process layout that collected them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .store import META_FILE, read_dataset


def run_folders(root: Path) -> list[Path]:
    return [root] if (root / META_FILE).exists() else sorted(p.parent for p in root.glob(f"*/{META_FILE}"))


def summarize(root: str | Path, processes: int = 2) -> dict:
    """Per-run and overall statistics; ``processes`` = collection processes running side by side."""
    out: dict = {"runs": {}}
    allrows = []
    for folder in run_folders(Path(root)):
        t = read_dataset(folder)
        rows = t.to_pylist()
        allrows += rows
        obj = np.array([r["objective_acc"] for r in rows]) if rows else np.zeros(0)
        out["runs"][folder.name] = {
            "rows": len(rows), "objective_mean": float(obj.mean()) if rows else None,
            "objective_std": float(obj.std()) if rows else None, "objective_max": float(obj.max()) if rows else None,
            "test_of_best": float(rows[int(obj.argmax())]["test_acc"]) if rows else None,
            "zero_share": float((obj == 0).mean()) if rows else None}
    if allrows:
        sec = np.array([r["eval_seconds"] for r in allrows])
        obj = np.array([r["objective_acc"] for r in allrows])
        out["total"] = {"rows": len(allrows), "objective_mean": float(obj.mean()), "objective_max": float(obj.max()),
                        "median_eval_seconds": float(np.median(sec)),
                        "configs_per_hour": float(processes * 3600 / np.median(sec)), "processes": processes}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("--processes", type=int, default=2, help="collection processes that ran side by side")
    a = ap.parse_args()
    print(json.dumps(summarize(a.root, a.processes), indent=1))


if __name__ == "__main__":
    main()
