"""What training recorded in a scenario's ``meta.json``, read back: the derived feature set, the
tuning fronts, the exported model's size and the command that rebuilds the model.

One reader for every study that shows these records (the validity report, its figures, the table
of docs/scenarios.md, the rebuild plan), so none of them reads a record differently.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def derived_set(meta: dict[str, Any]) -> str | None:
    """The derived feature set the scenario was trained with (None: raw features, as the paper)."""
    return ((meta.get("provenance") or {}).get("derived_features") or {}).get("set")


def train_command(scenario: str | Path, space: str, meta: dict[str, Any]) -> str | None:
    """The command that rebuilds the scenario's model (from its own provenance and quality report)."""
    prov, q = meta.get("provenance") or {}, meta.get("quality") or {}
    retuned = prov.get("retuned")  # with --params-from only these roles were tuned: --trials is theirs
    trials = {t.get("tuning", {}).get("n_trials") for t in q.get("targets", {}).values()
              if not retuned or t.get("role") in retuned}
    if "dataset" not in prov or len(trials) != 1 or None in trials:
        return None
    ensemble = prov.get("ensemble_requested", prov.get("ensemble", "cv"))  # older scenarios: no rule applied
    return (f"smm-bench train --data {prov['dataset']} --space {space} --out {scenario} --trials {trials.pop()} "
            f"--seed {q.get('split', {}).get('seed', 0)} --ensemble {ensemble}"
            + f" --derived {derived_set(meta) or 'none'}"
            + (f" --until {prov['rows_until']}" if prov.get("rows_until") else "")
            + (f" --params-from {prov['params_from']}" if prov.get("params_from") else "")
            + "".join(f" --ensemble-for {role}={kind}" for role, kind in (prov.get("ensemble_for") or {}).items())
            + (f" --retune {','.join(prov['retuned'])}" if prov.get("retuned") else ""))


def tuned_targets(quality: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets whose tuning recorded a Pareto front (every target trained by ``train``)."""
    return {n: t["tuning"] for n, t in quality.get("targets", {}).items() if (t.get("tuning") or {}).get("pareto_front")}


def is_chosen(point: dict[str, Any], tuning: dict[str, Any]) -> bool:
    """The front point that ``tune`` kept: the same trial values (recorded in the same run, so equal bit for bit)."""
    return point["cv_r2"] == tuning["cv_r2"] and point["node_visits"] == tuning["node_visits"]


def exported_size(target: dict[str, Any]) -> dict[str, Any]:
    """Trees, leaves and node visits per row of the model a target exports (whichever quality format)."""
    if target.get("candidates"):
        return next(r for r in target["candidates"] if r["candidate"] == target["candidate"])
    return (target.get("ensembles") or {}).get(target.get("ensemble"), target.get("tuning", {}))
