"""Derived feature sets side by side: the evidence for a space's default set.

    python -m smm_bench_surrogates.features --data collection/data/mini_dfs --space dfs \
        --scenario surrogates/scenarios/smm_dfs_mini --sets dfs-path-v1,dfs-path-v2 [--seeds 0,1] [--json F]

Why: ``derived_features.DEFAULT_SET`` decides what every new DFS or PS surrogate is trained on,
so changing it must rest on a comparison anyone can rerun. Each set is trained with the
scenario's own tuned LightGBM parameters (not re-tuned per set, so only the features differ) as
the paper's 5-fold CV ensemble, on the same rows, and scored two ways:

* the 9:1 held-out split, for each split seed: R² and Kendall tau overall and within each
  sampler's rows (a set can help the optimiser region and not the uniform random rows);
* leave one optimiser run out (``train.leave_one_run_out``, the validity report's runs: those of
  Figure 1's optimisers): R² and tau within a run that training never saw, the trajectory a
  user's optimiser makes. The table gives the mean over the runs and on how many runs each set
  beats the first one.

The parameters were tuned for the feature set the scenario was trained with, so the comparison
leans towards that set: a new set that wins here would likely win re-tuned as well (not
checked here; ``rebuild`` re-tunes).
Nothing is written except ``--json``; the numbers are printed as Markdown tables.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .report_studies import NEW_RUN_SAMPLERS
from .train import (ACCURACY_COLUMNS, Dataset, fit_predict, held_out_quality, learner_matrix, leave_one_run_out,
                    load_dataset, quality_by_sampler, resolve_derived, split, tuned_params_of)



def tuned_params(scenario: str | Path) -> dict[str, dict[str, Any]]:
    """The scenario's tuned LightGBM parameters per target role (objective, test), from its meta.json."""
    meta = json.loads((Path(scenario) / "meta.json").read_text())
    params = tuned_params_of(meta.get("quality") or {})
    if not params:
        raise ValueError(f"{scenario}/meta.json records no tuned parameters for {sorted(ACCURACY_COLUMNS)}")
    return params


def compare_sets(data: Dataset, space: str, sets: Sequence[str], params: dict[str, dict[str, Any]],
                 seeds: Sequence[int] = (0,), model_seed: int = 0) -> dict[str, Any]:
    """Every set (a name, ``"none"`` or ``"auto"``) on the same rows: held-out split per seed and leave one run out."""
    out: dict[str, Any] = {"space": space, "rows": len(data.X), "seeds": list(seeds), "sets": {}}
    for name in sets:
        derived = resolve_derived(name, space)
        X = learner_matrix(data, derived)
        result: dict[str, Any] = {"derived": derived, "columns": int(X.shape[1]), "split": {}, "runs": {}}
        for role, target_params in params.items():
            y = data.y[ACCURACY_COLUMNS[role]]
            per_seed = []
            for seed in seeds:
                train, test = split(len(y), seed)
                pred, _ = fit_predict(X, y, train, test, target_params, data.n_cat, model_seed)
                per_seed.append({"all": held_out_quality(pred, y[test]),
                                 "by_sampler": quality_by_sampler(pred, y[test], data.samplers[test])})
            result["split"][role] = per_seed
        loro = leave_one_run_out(data, space, params, NEW_RUN_SAMPLERS[space], seed=model_seed, derived=derived,
                                 one_run_fewer=False)
        result["runs"] = {run: {role: {k: t.get(k) for k in ("r2", "kendall_tau")} for role, t in r["targets"].items()}
                          for run, r in loro["runs"].items()}
        out["sets"][name] = result
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def markdown(result: dict[str, Any]) -> str:
    """Per target: one row per set (split means over seeds, overall and per sampler; leave-one-run-out means)."""
    names = list(result["sets"])
    first = result["sets"][names[0]]
    groups = sorted({g for s in result["sets"].values() for per in s["split"].values() for q in per
                     for g, v in q["by_sampler"].items() if "r2" in v})
    lines = [f"{result['space']}: {result['rows']:,} rows, split seeds {result['seeds']}, means over seeds; "
             f"leave-one-run-out over {len(first['runs'])} runs (beats = runs where R² is above {names[0]}'s); "
             f"LightGBM parameters tuned for the scenario's own set, {result.get('tuned_for') or '—'}", ""]
    for role in first["split"]:
        lines += [f"**{role}**", "",
                  "| set | columns | R² / tau | " + " | ".join(f"{g} R² / tau" for g in groups)
                  + " | new runs R² / tau | beats |",
                  "|---|---|---|" + "---|" * len(groups) + "---|---|"]
        for name in names:
            s = result["sets"][name]
            per = s["split"][role]

            def pair(get) -> str:  # a group below MIN_GROUP_ROWS in some seed has only its size there
                return (f"{_f(_mean([get(q).get('r2') for q in per]))} / "
                        f"{_f(_mean([get(q).get('kendall_tau') for q in per]))}")

            cells = [pair(lambda q: q["all"])]
            cells += [pair(lambda q, g=g: q["by_sampler"].get(g, {})) for g in groups]
            runs = {r: t[role] for r, t in s["runs"].items() if role in t}
            base = {r: t[role] for r, t in first["runs"].items() if role in t}
            beats = sum(1 for r, t in runs.items()
                        if t["r2"] is not None and (base.get(r) or {}).get("r2") is not None and t["r2"] > base[r]["r2"])
            loro = (f"{_f(_mean([t['r2'] for t in runs.values()]))} / "
                    f"{_f(_mean([t['kendall_tau'] for t in runs.values()]))}")
            lines.append(f"| `{name}` | {s['columns']} | " + " | ".join(cells)
                         + f" | {loro} | {'—' if name == names[0] else f'{beats}/{len(runs)}'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="collected dataset (a store or a folder of stores)")
    ap.add_argument("--space", required=True, choices=("ps", "dfs"))
    ap.add_argument("--scenario", required=True, type=Path, help="scenario folder whose tuned parameters are used")
    ap.add_argument("--sets", required=True, help="comma-separated: derived set names, none, auto")
    ap.add_argument("--seeds", default="0", help="comma-separated split seeds (default 0)")
    ap.add_argument("--until", default=None, help="rows evaluated at or before this ISO time only")
    ap.add_argument("--json", type=Path, default=None, help="also write the full result here")
    a = ap.parse_args(argv)
    sets = [s.strip() for s in a.sets.split(",") if s.strip()]
    seeds = [int(s) for s in a.seeds.split(",")]
    for name in sets:
        resolve_derived(name, a.space)  # an unknown set is refused before any training
    data = load_dataset(a.data, a.space, a.until)
    result = compare_sets(data, a.space, sets, tuned_params(a.scenario), seeds)
    meta = json.loads((a.scenario / "meta.json").read_text())
    result["tuned_for"] = ((meta.get("provenance") or {}).get("derived_features") or {}).get("set", "none")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
