"""The multi-fidelity of SMM-Bench: a configuration scored on the first k objective items.

Why items: a true evaluation's cost is generating answers to the evaluation items, and scoring a
merge on a subset of them is how practitioners cut it. The stores keep every evaluation's per-item
bits, so the accuracy on any item subset of every stored configuration is already known.

Definition (one home for it: the training side, the evaluator and the scenarios read it here):

* the objective items are visited in ONE fixed order, a permutation drawn with
  ``numpy.random.default_rng(ITEM_ORDER_SEED)``; rung ``k`` is the first ``k`` items of that order.
  The prefixes are nested (a higher rung contains every lower one), as successive halving assumes,
  and the order is random, so no rung is easier by construction (the mini set lists its items by
  template, and real sets are often sorted by source);
* ``n_items`` takes the values of :data:`LADDER` (16, 32, 64, 128, 256: the whole mini objective
  set). Why these: below 16 items a mini evaluation is hardly cheaper (generation's fixed cost per
  decoding step dominates, see ``prefix_costs.json``), and an accuracy over 8 items has 9 possible
  values, so ties swamp the ranking; halving from 256 down to 16 gives successive halving and
  Hyperband with eta = 2 five rungs that all exist;
* the rung target of a stored row is the mean of the first ``k`` bits of ``objective_correct_bits``
  in that order (:func:`rung_accuracies`); the test accuracy is the full test set at every rung (a
  final score, not a fidelity).

``python -m smm_bench_collection.fidelity --space ps --rows 4`` evaluates stored configurations
for real on each rung's prefix (:meth:`~smm_bench_collection.evaluate.MergeEvaluator.evaluate_prefix`),
checks that each prefix accuracy equals the rung target derived from the stored bits, and measures
what each rung costs relative to a full evaluation (both sets), which the surrogates' cost target uses.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ITEM_ORDER_SEED = 0
LADDER: tuple[int, ...] = (16, 32, 64, 128, 256)
FIDELITY_NAME = "n_items"
PREFIX_COSTS = Path(__file__).resolve().parent / "prefix_costs.json"  # measured by this module's command


def item_order(n_items: int) -> np.ndarray:
    """The fixed visiting order of ``n_items`` objective items (a seeded permutation)."""
    return np.random.default_rng(ITEM_ORDER_SEED).permutation(int(n_items))


def check_ladder(ladder: Sequence[int], n_items: int) -> tuple[int, ...]:
    """``ladder`` as increasing whole numbers ending at ``n_items`` (the full set is the top rung)."""
    rungs = tuple(int(k) for k in ladder)
    if not rungs or any(k < 1 for k in rungs) or list(rungs) != sorted(set(rungs)):
        raise ValueError(f"a fidelity ladder must be increasing positive item counts, got {list(ladder)}")
    if rungs[-1] != n_items:
        raise ValueError(f"the ladder's top rung must be the whole objective set ({n_items} items), got {rungs[-1]}")
    return rungs


def rung_accuracies(bits: np.ndarray, ladder: Sequence[int] = LADDER) -> np.ndarray:
    """Accuracy of each row on each rung's prefix: float64 [rows, len(ladder)].

    ``bits`` is bool or 0/1 [rows, n_items] in the set's own item order (as stored). The sums
    are counts of ones, so every value is exactly ``count / k``, the accuracy a real prefix
    evaluation reports.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"bits must be [rows, n_items], got shape {bits.shape}")
    rungs = check_ladder(ladder, bits.shape[1])
    visited = bits[:, item_order(bits.shape[1])].astype(np.int64)
    counts = np.cumsum(visited, axis=1)
    return np.stack([counts[:, k - 1] / k for k in rungs], axis=1)


def stored_bits(table, set_name: str = "objective") -> np.ndarray:
    """The per-item ``correct`` bits of every row of a store table: bool [rows, n_items]."""
    from .store import unpack_bits

    sizes = set(table.column(f"{set_name}_n_items").to_pylist())
    if len(sizes) != 1:
        raise ValueError(f"rows score different numbers of {set_name} items {sorted(sizes)}; a ladder needs one set")
    (n,) = sizes
    return np.array([unpack_bits(b, n) for b in table.column(f"{set_name}_correct_bits").to_pylist()], dtype=bool)


# --------------------------------------------------------------------- real prefix check

def check_prefixes(data_dir: str | Path, space: str, rows: int = 4, seed: int = 0, family: str = "mini",
                   ladder: Sequence[int] = LADDER) -> dict[str, Any]:
    """Evaluate ``rows`` stored configurations for real on every rung's prefix.

    For each: the prefix accuracy of the real merge beside the rung target from the stored bits
    (they must be equal: the rung targets are what a real prefix evaluation gives), and the wall
    time of each prefix evaluation and of a full one (objective and test sets, as the collection
    ran it), timed back to back on the same merge so that the machine's load cancels out.
    """
    from .collect import family_factory

    table = read_runs(data_dir)
    pick = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=min(rows, table.num_rows), replace=False))
    table = table.take(pick)
    targets = rung_accuracies(stored_bits(table), ladder)
    factory = family_factory(space, family)
    if factory.family_id != table.column("family_id")[0].as_py():
        raise ValueError(f"the local '{family}' family is {factory.family_id}, the data is "
                         f"{table.column('family_id')[0].as_py()}")
    evaluator = factory()
    names = [n for n in table.column_names if n in _hyperparameters(space)]
    out = []
    for i in range(table.num_rows):
        config = {n: table.column(n)[i].as_py() for n in names}
        record: dict[str, Any] = {"config_id": table.column("config_id")[i].as_py(), "rungs": {}}
        t0 = time.perf_counter()
        full = evaluator.evaluate(config)
        record["full_seconds"] = time.perf_counter() - t0
        record["full_timings"] = full.timings
        for j, k in enumerate(ladder):
            prefix = evaluator.evaluate_prefix(config, k)
            record["rungs"][str(k)] = {"accuracy": prefix.accuracy, "stored": float(targets[i, j]),
                                       "seconds": prefix.seconds, "timings": prefix.timings}
        out.append(record)
    shares = {str(k): float(np.median([r["rungs"][str(k)]["seconds"] / r["full_seconds"] for r in out]))
              for k in ladder}
    agree = all(r["rungs"][str(k)]["accuracy"] == r["rungs"][str(k)]["stored"] for r in out for k in ladder)
    return {"space": space, "family_id": factory.family_id, "item_order_seed": ITEM_ORDER_SEED,
            "ladder": list(ladder), "rows": out, "cost_share": shares, "all_equal_stored": agree,
            "command": f"python -m smm_bench_collection.fidelity --space {space} --data {data_dir} --rows {rows} "
                       f"--seed {seed}"}


def read_runs(data_dir: str | Path):
    """One store folder, or a folder of store folders (one per sampler run), as one table."""
    import pyarrow as pa

    from .store import META_FILE, read_dataset

    root = Path(data_dir)
    folders = [root] if (root / META_FILE).exists() else sorted(p.parent for p in root.glob(f"*/{META_FILE}"))
    if not folders:
        raise FileNotFoundError(f"no collection store under {root} (expected {META_FILE} in it or its subfolders)")
    return pa.concat_tables([read_dataset(f) for f in folders])


def _hyperparameters(space: str) -> set[str]:
    from smm_bench_plugin.scenario import space_tables
    from smm_bench_plugin.spaces import space_json

    cat, _, cont, _, _ = space_tables(space_json(space))
    return set(cat) | set(cont)


def cost_shares(space: str, path: Path = PREFIX_COSTS) -> dict[int, float]:
    """The measured cost of each rung relative to a full evaluation of both sets, for ``space``."""
    try:
        doc = json.loads(path.read_text())[space]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: measure it with python -m smm_bench_collection.fidelity "
                                f"--space {space}") from None
    except KeyError:
        raise KeyError(f"{path} has no measurement for space {space!r}") from None
    return {int(k): float(v) for k, v in doc["cost_share"].items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smm_bench_collection.fidelity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", required=True, choices=("ps", "dfs"))
    ap.add_argument("--data", default=None, help="store folder(s) (default collection/data/mini_<space>)")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(PREFIX_COSTS), help="JSON file; this space's entry is replaced")
    a = ap.parse_args(argv)
    data = a.data or f"collection/data/mini_{a.space}"  # from the repository root, as the command is recorded
    result = check_prefixes(data, a.space, rows=a.rows, seed=a.seed)
    out = Path(a.out)
    doc = json.loads(out.read_text()) if out.exists() else {}
    doc[a.space] = result
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({"cost_share": result["cost_share"], "all_equal_stored": result["all_equal_stored"]}))
    return 0 if result["all_equal_stored"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
