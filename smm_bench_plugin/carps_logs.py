"""``compare``'s trajectories as carps run folders, so carps' own analysis reads them.

carps gathers results from run folders, each holding the trials of one (task, optimiser, seed)
as ``trial_logs.jsonl`` and the run's hydra config as ``.hydra/config.yaml`` (and ``hydra.yaml``):

    smm-bench to-carps RUN_DIR --out CARPS_DIR
    python -m carps.analysis.gather_data CARPS_DIR      # carps writes CARPS_DIR/logs.parquet

Each evaluation of a ``compare`` run becomes one trial: cost ``1 - objective`` (carps
minimises, as our carps task does), the objective and test values in ``additional_info``, task
``smm_bench/<space>/<scenario>`` as ``+task/SMMBench`` names it. ``compare`` does not keep every
configuration, so a trial's ``config`` is empty; time is the evaluation count (no virtual time).
The config files are written as JSON, which YAML readers (OmegaConf) read as it is.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_carps_runs", "main"]

BENCHMARK_ID = "SMMBench"


def _trajectories(run_dir: Path) -> list[dict[str, Any]]:
    """compare's trajectory rows (csv or parquet) with typed values."""
    csv_path, parquet_path = run_dir / "trajectories.csv", run_dir / "trajectories.parquet"
    if csv_path.is_file():
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
    elif parquet_path.is_file():
        from .optional import require

        rows = require("pyarrow.parquet", "compare", "reading trajectories.parquet").read_table(parquet_path).to_pylist()
    else:
        raise FileNotFoundError(f"RUN_DIR: {run_dir} has no trajectories.csv or trajectories.parquet; pass the "
                                "--out folder of `smm-bench compare`")

    def number(v: Any) -> float | None:
        return None if v in ("", None) else float(v)

    return [{"optimizer": str(r["optimizer"]), "seed": int(r["seed"]), "evaluation": int(r["evaluation"]),
             "objective": number(r["objective"]), "test": number(r["test"])} for r in rows]


def write_carps_runs(run_dir: str | os.PathLike, out: str | os.PathLike) -> list[Path]:
    """One carps run folder per (optimiser, seed) of ``run_dir`` under ``out``; returns them."""
    run_dir, out = Path(run_dir), Path(out)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"RUN_DIR: {run_dir / 'summary.json'} is missing; pass the --out folder of "
                                "`smm-bench compare`") from None
    task_id = f"smm_bench/{summary['space']}/{summary['scenario']}"
    objective, test = summary["objective"], summary["test"]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in _trajectories(run_dir):
        runs.setdefault((row["optimizer"], row["seed"]), []).append(row)
    folders = []
    for (optimizer, seed), rows in runs.items():
        folder = out / BENCHMARK_ID / task_id / optimizer / str(seed)
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        config = {"benchmark_id": BENCHMARK_ID, "task_id": task_id, "optimizer_id": optimizer, "seed": seed,
                  "task": {"name": task_id, "output_space": {"n_objectives": 1},
                           "optimization_resources": {"n_trials": int(summary["budget"])},
                           "is_multifidelity": False, "is_multiobjective": False}}
        (folder / ".hydra" / "config.yaml").write_text(json.dumps(config, indent=1) + "\n")
        overrides = [f"+task/SMMBench={summary['space']}_mini", f"smm_scenario={summary['scenario']}", f"seed={seed}"]
        hydra = {"hydra": {"overrides": {"task": overrides, "hydra": []}}}  # what carps reads to rerun a run
        (folder / ".hydra" / "hydra.yaml").write_text(json.dumps(hydra, indent=1) + "\n")
        lines = []
        for row in sorted(rows, key=lambda r: r["evaluation"]):
            info = {objective: row["objective"], **({test: row["test"]} if test is not None else {})}
            lines.append(json.dumps({
                "n_trials": row["evaluation"], "n_function_calls": row["evaluation"],
                "trial_info": {"config": [], "instance": None, "seed": seed, "budget": None,
                               "normalized_budget": None, "name": None, "checkpoint": None},
                "trial_value": {"cost": 1.0 - row["objective"], "time": 0.0, "virtual_time": 0.0,
                                "status": "SUCCESS", "starttime": float(row["evaluation"]),
                                "endtime": float(row["evaluation"]), "additional_info": info}}))
        (folder / "trial_logs.jsonl").write_text("\n".join(lines) + "\n")
        folders.append(folder)
    return folders


def main(args) -> int:
    """CLI entry (see ``smm-bench to-carps --help``)."""
    out = args.out or str(Path(args.run_dir) / "carps")
    folders = write_carps_runs(args.run_dir, out)
    print(f"wrote {len(folders)} carps run folder(s) under {out}; gather them with "
          f"`python -m carps.analysis.gather_data {out}` (writes logs.parquet)")
    return 0
