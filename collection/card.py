"""The dataset card of the mini datasets, regenerated from the stores themselves.

    python -m smm_bench_collection.card [--data collection/data]

Writes ``DATASET_CARD.md`` and ``accuracy_histograms.png`` into the data folder: rows per
sampler run against the collection plan, accuracy statistics and histograms per sampler, the
parents' scores on the same evaluation sets (from the family's gates), the library
versions recorded in the rows, and each run's saved provenance verdict
(``python -m smm_bench_collection.replay --save``: does it follow from its seed, on which BLAS kernel). Nothing in the card is typed by hand.
"""
from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
from smm_bench_plugin.blas import kernel_name

from . import exploit
from .plan import DATA_DIR, planned_runs, run_folder
from .samplers import BLAS_DEPENDENT
from .stats import run_folders
from .store import load_verdict, read_dataset

GATES = Path(__file__).resolve().parent / "mini" / "gates.json"


def _space_rows(space_dir: Path) -> dict[str, dict]:
    runs = {}
    for folder in run_folders(space_dir):
        t = read_dataset(folder)
        runs[folder.name] = {
            "sampler": folder.name.rsplit("-s", 1)[0],
            "objective": np.asarray(t.column("objective_acc").to_numpy(), dtype=float),
            "test": np.asarray(t.column("test_acc").to_numpy(), dtype=float),
            "seconds": np.asarray(t.column("eval_seconds").to_numpy(), dtype=float),
            "family": sorted(set(t.column("family_id").to_pylist())),
            "versions": collections.Counter(t.column("versions").to_pylist()),  # every row's library versions
            "inserted": _inserted_layers(t),
            "replay": load_verdict(folder),
        }
    return runs


def _inserted_layers(table) -> np.ndarray | None:
    """DFS: layers inserted into model A's path per row (slots not "none"); None for PS."""
    slots = [c for c in table.column_names if c.startswith("slot")]
    if not slots:
        return None
    return sum((np.asarray(table.column(c).to_pylist()) != "none").astype(int) for c in slots)


PATH_BINS = [(0, 3), (4, 7), (8, 11), (12, 15), (16, 19), (20, 23), (24, 27), (28, 32)]


def path_length_table(runs: dict[str, dict]) -> list[str]:
    """DFS objective by number of inserted layers, every sampler pooled.

    Why: the DFS default (no insertions) is model A itself, and how fast accuracy decays with
    the number of inserted layers is the shape of this space; uniform random paths insert ~21.
    """
    runs = [r for r in runs.values() if r.get("inserted") is not None and r["objective"].size]
    if not runs:
        return []
    k = np.concatenate([r["inserted"] for r in runs])
    o = np.concatenate([r["objective"] for r in runs])
    samplers = np.concatenate([[r["sampler"]] * r["objective"].size for r in runs])
    lines = ["Objective by the number of inserted layers (all samplers pooled):", "",
             "| inserted layers | rows | rows by sampler | objective mean | objective max | share > 0.5 |",
             "|---|---|---|---|---|---|"]
    for lo, hi in PATH_BINS:
        m = (k >= lo) & (k <= hi)
        if not m.any():
            lines.append(f"| {lo}–{hi} | 0 | — | — | — | — |")
            continue
        by = collections.Counter(samplers[m])
        lines.append(f"| {lo}–{hi} | {m.sum():,} | {', '.join(f'{s} {n:,}' for s, n in sorted(by.items()))} | "
                     f"{o[m].mean():.3f} | {o[m].max():.3f} | {(o[m] > 0.5).mean():.1%} |")
    return lines


def replay_cell(check: dict | None, rows: int) -> str:
    """The saved provenance verdict (``replay --save``) of a run, and the rows it covers.

    Why: whether a run follows from its seed (and on which BLAS kernel) is part of its provenance,
    but a check costs sampler time, so it is saved, not recomputed here; a run that grew since
    is shown with the row count its verdict covers.
    """
    if check is None:
        return "not checked"
    # only CMA-ES and CatCMA draw through the kernel: other verdicts hold on every kernel
    kernel = kernel_name(check.get("blas")) or check.get("blas") or "an unidentified BLAS"
    on = f" on {kernel}" if check.get("sampler") in BLAS_DEPENDENT else ""
    cell = (f"yes{',' if on else ''}{on}" if check["reproducible"]
            else f"no: {check['matched_rounds']}/{check['stored_rounds']} rounds{on}")
    return cell + (f" (checked at {check['rows']:,} rows)" if check.get("rows") != rows else "")


def _planned(space: str, rounds: dict[str, tuple] | None = None) -> dict[str, int]:
    """Final budget per store folder name of the plan; an exploitation round's is its plan's
    distinct configurations."""
    planned = {run_folder(Path(), sampler, seed).name: budget for (sampler, seed), budget in planned_runs(space).items()}
    for name, (plan, _) in (rounds or {}).items():
        planned[name] = len({json.dumps(c["config"], sort_keys=True) for c in plan["configs"]})
    return planned


def _rounds(space_dir: Path) -> dict[str, tuple]:
    """Each exploitation round folder's (plan, stored results), by folder name."""
    out = {}
    for folder in sorted(space_dir.glob(f"{exploit.SAMPLER}-s*")):
        found = exploit.stored_round(folder)
        if found is not None:
            out[folder.name] = found
    return out


def exploit_lines(rounds: dict[str, tuple]) -> list[str]:
    """Per exploitation round: the model it asked, and the surrogate's prediction against the true
    value at the runs' bests, per budget (the gap a round closes is read off the next round)."""
    if not rounds:
        return []
    lines = ["Exploitation rounds (`python -m smm_bench_collection.exploit`; sampler `exploit`, run seed = round): "
             "every compare optimiser ran on the surrogate of the model named, each run's best and next "
             "configurations were evaluated for real. Gap = surrogate prediction minus true value, mean over the "
             "runs' bests; error at every pick = the same over every configuration the round evaluated, mean and "
             "standard deviation, beside the standard deviation that the objective's finite item set alone gives "
             "there (binomial, sqrt(acc (1 - acc) / items)): the scatter a surrogate of the expected accuracy "
             "cannot remove.", "", "| round | model asked | configurations stored / planned | budget | runs | "
             "surrogate at bests | true at bests | gap | error at every pick: mean / SD (n) | item noise SD |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, (plan, rows) in rounds.items():
        keys = [json.dumps(c["config"], sort_keys=True) for c in plan["configs"]]  # runs may meet in one point
        stored = len({k for k, r in zip(keys, rows) if r is not None})
        for budget in sorted({c["budget"] for c in plan["configs"]}):
            pairs = [(c["surrogate_objective"], r["objective_acc"]) for c, r in zip(plan["configs"], rows)
                     if c["budget"] == budget and c["rank"] == 0 and r is not None]
            if not pairs:
                continue
            s, t = np.mean([p[0] for p in pairs]), np.mean([p[1] for p in pairs])
            picks = [(c["surrogate_objective"], r["objective_acc"], r["objective_n_items"])
                     for c, r in zip(plan["configs"], rows) if c["budget"] == budget and r is not None]
            err = np.array([a - b for a, b, _ in picks])
            noise = np.mean([np.sqrt(b * (1 - b) / n) for _, b, n in picks])
            lines.append(f"| {plan['round']} | `{plan['model']}` | {stored:,} / {len(set(keys)):,} | {budget:,} | "
                         f"{len(pairs)} | {s:.3f} | {t:.3f} | {s - t:+.3f} | {err.mean():+.3f} / {err.std():.3f} "
                         f"({err.size}) | {noise:.3f} |")
    return lines + [""]


def check_lines(checks_dir: Path) -> list[str]:
    """The validity checks' true evaluations: stored apart, never training rows."""
    folders = run_folders(checks_dir) if checks_dir.exists() else []
    if not folders:
        return []
    lines = [f"True evaluations of the end-point check (`{checks_dir.name}`; never read by training): "
             + ", ".join(f"{f.name} {read_dataset(f).num_rows:,} rows" for f in folders) + ".", ""]
    return lines


def plot_histograms(per_space: dict[str, dict[str, dict]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces = [s for s, runs in per_space.items() if runs]
    fig, axes = plt.subplots(len(spaces), 2, figsize=(10, 3.2 * len(spaces)), squeeze=False)
    bins = np.linspace(0, 1, 41)
    for row, space in zip(axes, spaces):
        by_sampler = collections.defaultdict(lambda: {"objective": [], "test": []})
        for run in per_space[space].values():
            for k in ("objective", "test"):
                by_sampler[run["sampler"]][k].append(run[k])
        for ax, target in zip(row, ("objective", "test")):
            for sampler, vals in sorted(by_sampler.items()):
                v = np.concatenate(vals[target])
                ax.hist(v, bins=bins, histtype="step", linewidth=1.4, label=f"{sampler} (n={v.size})")
            ax.set_yscale("log")
            ax.set_title(f"{space.upper()}: {target} accuracy", fontsize=10)
            ax.set_xlabel("accuracy")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def versions_sentence(runs: dict[str, dict]) -> str:
    """Library versions over every row: each library once, with row counts where rows disagree.

    Why: a dataset collected over weeks can span library upgrades; the card must show them, not
    the versions of whichever row happens to be last. An entry added later (``blas``) counts the
    older rows as "not recorded" rather than claiming every row.
    """
    per_library: dict[str, collections.Counter] = {}
    total = 0
    for r in runs.values():
        for text, n in (r.get("versions") or {}).items():
            total += n
            for library, version in json.loads(text).items():
                per_library.setdefault(library, collections.Counter())[version] += n
    for counts in per_library.values():  # rows written before a library (or the BLAS kernel) was recorded
        if (missing := total - sum(counts.values())) > 0:
            counts["not recorded"] += missing
    if not per_library:
        return "Versions: —."
    same = [f"{k} {next(iter(c))}" for k, c in sorted(per_library.items()) if len(c) == 1]
    mixed = [f"{k} " + " / ".join(f"{v} ({n:,} rows)" for v, n in sorted(c.items()))
             for k, c in sorted(per_library.items()) if len(c) > 1]
    return ("Versions (every row): " + ", ".join(same) + "."
            + (" Rows differ in: " + "; ".join(mixed) + "." if mixed else ""))


def render(per_space: dict[str, dict[str, dict]], gates: dict | None, command: str,
           data_dir: Path | None = None) -> str:
    lines = ["# Dataset card: the mini SMM-Bench datasets", "",
             f"Regenerate: `{command}`. Schema: [collection/SCHEMA.md](../SCHEMA.md). Each sampler run is "
             "one store folder `mini_<space>/<sampler>-s<seed>` (parquet shards + STORE.json); "
             "`smm_bench_collection.store.read_dataset(folder)` reads one.", "",
             "Every row is one true evaluation of the mini twin (the CPU-sized family with the paper's space dimensions, "
             "merge code and judge; [docs/scenarios.md](../../docs/scenarios.md)): a real merge of the mini family, "
             "greedy decoding of the objective set (256 items, gsm8k-ja analog) and the test set (128 items "
             "from held-out templates and number ranges, MGSM-ja analog), judged per item (number right AND "
             "Japanese response). Per-item bits, timings and library versions are in the rows.", ""]
    if gates:
        p = gates["parents"]
        lines += ["## Parents on the same sets", "", "| model | objective | test |", "|---|---|---|"]
        for name, v in p.items():
            lines.append(f"| {name} | {v['objective']:.3f} | {v['test']:.3f} |")
        lines.append("")
    lines += ["![accuracy histograms](accuracy_histograms.png)", ""]
    for space, runs in per_space.items():
        rounds = _rounds(data_dir / f"mini_{space}") if data_dir else {}
        planned = _planned(space, rounds)
        total = sum(r["objective"].size for r in runs.values())
        lines += [f"## {space.upper()}: {total:,} rows of {sum(planned.values()):,} planned", "",
                  "| run | rows / planned | objective mean ± std | objective max | test of best | zeros | "
                  "median s/eval | replays from its seed |", "|---|---|---|---|---|---|---|---|"]
        for name in sorted(set(planned) | set(runs)):
            r = runs.get(name)
            if r is None or r["objective"].size == 0:
                lines.append(f"| {name} | 0 / {planned.get(name, 0):,} | — | — | — | — | — | — |")
                continue
            o = r["objective"]
            lines.append(f"| {name} | {o.size:,} / {planned.get(name, 0):,} | {o.mean():.3f} ± {o.std():.3f} | "
                         f"{o.max():.3f} | {r['test'][o.argmax()]:.3f} | {(o == 0).mean():.1%} | "
                         f"{np.median(r['seconds']):.2f} | "
                         f"{'its plan, ROUND.json' if name in rounds else replay_cell(r.get('replay'), o.size)} |")
        lines.append("")
        lines += exploit_lines(rounds)
        lines += check_lines(data_dir / "checks" / f"mini_{space}") if data_dir else []
        table = path_length_table(runs)
        if table:
            lines += table
        families = sorted({f for r in runs.values() for f in r["family"]})
        lines += ["", f"Family: {', '.join(families) or '—'}. " + versions_sentence(runs), ""]
    return "\n".join(lines) + "\n"


def write_card(data_dir: str | Path = DATA_DIR) -> Path:
    data = Path(data_dir)
    per_space = {space: _space_rows(data / f"mini_{space}") if (data / f"mini_{space}").exists() else {}
                 for space in ("ps", "dfs")}
    gates = json.loads(GATES.read_text()) if GATES.exists() else None
    plot_histograms(per_space, data / "accuracy_histograms.png")
    out = data / "DATASET_CARD.md"
    out.write_text(render(per_space, gates, "python -m smm_bench_collection.card", data))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    a = ap.parse_args()
    print(write_card(a.data))


if __name__ == "__main__":
    main()
