"""The validity report's figures, drawn from the numbers the studies computed (:mod:`.report_studies`).

Every figure is a PNG written with matplotlib's file-only Agg backend, so a report runs on a
headless machine; the ``[train]`` extra installs matplotlib.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from smm_bench_collection.samplers import sampler_label

from .training_record import tuned_targets

COLORS = {"random": "tab:gray", "cmaes": "tab:blue", "catcma": "tab:blue", "tpe": "tab:orange",
          "sepcma": "tab:green", "de": "tab:red"}


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (reports run on headless machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _band(ax, runs: dict[int, np.ndarray], color: str, style: str, label: str) -> None:
    best = np.array([np.maximum.accumulate(v) for v in runs.values()])
    x = np.arange(1, best.shape[1] + 1)
    ax.plot(x, best.mean(0), style, color=color, label=f"{label} (n={len(best)})")
    if len(best) > 1:
        ax.fill_between(x, best.min(0), best.max(0), color=color, alpha=0.12, linewidth=0)


def plot_figure1(path: Path, true: dict, surrogate: dict, random_only: dict | None, title: str,
                 unseen: dict | None = None) -> Path:
    plt = _pyplot()
    panels = [("true mini objective (real merges)", true), ("surrogate (bundled), the true runs' seeds", surrogate)]
    if unseen is not None:
        panels.append(("surrogate (bundled), seeds never collected", unseen))
    if random_only is not None:
        panels.append(("surrogate trained on random samples only", random_only))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), sharey=True)
    for ax, (name, curves) in zip(np.atleast_1d(axes), panels):
        for sampler, runs in curves.items():
            if runs:
                _band(ax, runs, COLORS[sampler], "-", sampler_label(sampler))
        if not any(curves.values()):  # say so, rather than leave a blank panel
            ax.text(0.5, 0.5, "no complete run collected yet\n(the collection plan is still running)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("evaluations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    np.atleast_1d(axes)[0].set_ylabel("best-so-far objective accuracy")
    fig.suptitle(title, fontsize=11)
    return _save(plt, fig, path)


def plot_figure2(path: Path, comparison, title: str) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in comparison.optimizers():
        runs = [r for r in comparison.runs if r.optimizer == name]
        for ax, curve in zip(axes, ("best_so_far", "test_at_best_so_far")):
            ys = np.array([getattr(r, curve)() for r in runs])
            x = np.arange(1, ys.shape[1] + 1)
            ax.plot(x, ys.mean(0), color=COLORS.get(name), label=f"{name} (n={len(runs)})")
            ax.fill_between(x, ys.min(0), ys.max(0), color=COLORS.get(name), alpha=0.12, linewidth=0)
    axes[0].set_title("objective (best so far)", fontsize=10)
    axes[1].set_title("test accuracy of the best-so-far configuration", fontsize=10)
    for ax in axes:
        ax.set_xlabel("evaluations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return _save(plt, fig, path)


def plot_learning_curve(path: Path, curve: dict[str, Any], title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for (role, t), color in zip(curve["targets"].items(), ("tab:blue", "tab:orange")):
        rows = [p["rows"] for p in t["points"]]
        ax.plot(rows, [p["r2"] for p in t["points"]], "o-", color=color,
                label=f"{role} R²" + (f" ({curve['derived_features']})" if curve.get("derived_features") else ""))
        raw = (curve.get("raw_features") or {}).get(role)
        if raw:
            ax.plot(rows, [p["r2"] for p in raw["points"]], "s:", color=color, alpha=0.7,
                    label=f"{role} R² (raw features only)")
        if t.get("noise_ceiling_r2") is not None:
            ax.axhline(t["noise_ceiling_r2"], color=color, linestyle="--", linewidth=1,
                       label=f"{role} noise ceiling")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"training rows (held-out: {curve['held_out_rows']} rows)")
    ax.set_ylabel("held-out R²")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return _save(plt, fig, path)


def plot_tuning_front(path: Path, quality: dict[str, Any], scenario: str) -> Path | None:
    """One panel per target: CV R² against node visits per row along the Pareto front, the kept trial starred."""
    tuned = tuned_targets(quality)
    if not tuned:
        return None
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, len(tuned), figsize=(4.5 * len(tuned), 3.8))
    for ax, (name, tu) in zip(np.atleast_1d(axes), tuned.items()):
        front = tu["pareto_front"]
        ax.plot([p["node_visits"] for p in front], [p["cv_r2"] for p in front], "o-", color="tab:blue",
                markersize=4, label="Pareto front")
        ax.axhline(tu["best_cv_r2"] - tu["r2_tolerance"], color="0.5", linestyle="--", linewidth=1,
                   label=f"best CV R² − {tu['r2_tolerance']}")
        ax.plot([tu["node_visits"]], [tu["cv_r2"]], "*", color="tab:red", markersize=14, label="kept")
        if all(p["node_visits"] > 0 for p in front) and tu["node_visits"] > 0:  # a constant model visits no node
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # a narrow decade would print overlapping minor labels
        ax.set_xlabel("node visits per prediction row")
        ax.set_title(f"{name} ({quality['targets'][name]['role']})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    np.atleast_1d(axes)[0].set_ylabel("5-fold CV R²")
    fig.suptitle(f"{scenario}: accuracy against size found by tuning", fontsize=11)
    return _save(plt, fig, path)


def plot_new_runs(path: Path, predictions: dict[str, dict[str, Any]], title: str) -> Path | None:
    """One panel per held-out run: the surrogate's objective against the true one (the diagonal is a perfect fit).

    ``predictions``: run name -> {"sampler": ..., role: {"true": [...], "predicted": [...]}} (leave_one_run_out)."""
    if not predictions:
        return None
    plt = _pyplot()
    n = len(predictions)
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.8 * nrows), squeeze=False)
    for ax, (name, roles) in zip(axes.ravel(), predictions.items()):
        t = np.asarray(roles["objective"]["true"])
        pr = np.asarray(roles["objective"]["predicted"])
        ax.scatter(t, pr, s=6, alpha=0.4, color=COLORS.get(roles["sampler"], "tab:blue"), linewidths=0)
        top = max(float(t.max()), float(pr.max()), 0.05)
        ax.plot([0, top], [0, top], "--", color="0.4", linewidth=1)
        ax.set_title(f"{name} ({t.size} rows)", fontsize=10)
        ax.set_xlabel("true objective")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("surrogate objective")
    fig.suptitle(title, fontsize=11)
    return _save(plt, fig, path)
