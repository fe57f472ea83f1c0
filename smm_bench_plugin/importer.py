"""Import the authors' released LightGBM surrogates as scenario ``smm_ps`` / ``smm_dfs``.

Input folder: ``train_acc_ja_best_model.json`` (gsm8k-ja accuracy, the optimisation target),
``test_acc_ja_best_model.json`` (MGSM-ja accuracy, the held-out test target), both
``CVBooster.save_model`` JSON, and ``label.json`` whose key ``x`` lists the input columns.

Column assumptions (documented in docs/scenario-format.md): the authors' column i is our
hyperparameter i in ONNX column order. PS: 64 weights ``w0_l00 .. w1_l31`` (row-major
w[m, l]). DFS: 32 slot codes as numbers, "A"=0, "B"=1, "none"=2, then the 63 scales
``scale01 .. scale63``. The graph maps YAHPO codes 1..3 to 0..2 before the trees.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .convert import write_lightgbm_scenario
from .files import MAX_MODEL_TEXT_BYTES, read_json, read_text
from .lgbm_text import parse_cv_booster_json
from .scenario import Target
from .spaces import SPACES, dfs_cat_names, dfs_cont_names, ps_names
from .store import check_name, install, staging_folder

__all__ = ["AUTHOR_FILES", "import_lightgbm"]

AUTHOR_FILES = {
    "gsm8k_ja": "train_acc_ja_best_model.json",
    "mgsm_ja": "test_acc_ja_best_model.json",
}
LABEL_FILE = "label.json"

_REPORTED_QUALITY = {  # the paper's Table 1: the authors' held-out 10 % (not re-measured by this importer)
    "ps": {"gsm8k_ja": {"r2": 0.950, "kendall_tau": 0.883}, "mgsm_ja": {"r2": 0.921, "kendall_tau": 0.791}},
    "dfs": {"gsm8k_ja": {"r2": 0.962, "kendall_tau": 0.863}, "mgsm_ja": {"r2": 0.957, "kendall_tau": 0.839}},
}
_TARGETS = (
    Target("gsm8k_ja", "objective", 0.0, 1.0, "maximize", "predicted accuracy on gsm8k-ja (1069 items)"),
    Target("mgsm_ja", "test", 0.0, 1.0, "maximize", "predicted accuracy on MGSM-ja test (250 items)"),
)


def _our_columns(space: str) -> list[str]:
    return ps_names() if space == "ps" else dfs_cat_names() + dfs_cont_names()


def _read_json(path: Path) -> object:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"missing {path.name} in {path.parent}") from None


def import_lightgbm(source: str | os.PathLike, space: str, *, name: str | None = None, force: bool = False) -> Path:
    """Convert the authors' folder into a registered scenario; returns its folder.

    Nothing is registered unless every step (parsing, conversion, a test load and
    evaluation) succeeded; concurrent imports serialise on a lock.
    """
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise TypeError(f"source must be the folder of the authors' files (str or os.PathLike), got {source!r}")
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; allowed: {', '.join(SPACES)}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a scenario name (str) or None, got {name!r}")
    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    name = check_name(name or f"smm_{space}")
    src = Path(source)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder")
    missing = [f for f in (*AUTHOR_FILES.values(), LABEL_FILE) if not (src / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{src} lacks {', '.join(missing)} (expected {', '.join(AUTHOR_FILES.values())}, {LABEL_FILE})")
    labels_doc = _read_json(src / LABEL_FILE)
    labels = labels_doc.get("x") if isinstance(labels_doc, dict) else None
    if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
        raise ValueError(f"{src / LABEL_FILE}: expected an object whose key 'x' lists the column labels")
    ours = _our_columns(space)
    if len(labels) != len(ours):
        raise ValueError(f"{src / LABEL_FILE} lists {len(labels)} columns; space {space!r} has {len(ours)} "
                         f"({'64 weights' if space == 'ps' else '32 slot codes + 63 scales'}). Wrong --space?")
    misplaced = [(i, label) for i, label in enumerate(labels) if label in ours and ours[i] != label]
    if misplaced:
        i, label = misplaced[0]
        raise ValueError(f"{src / LABEL_FILE}: column {i} is labelled {label!r}, but in space {space!r} column {i} "
                         f"is {ours[i]!r} and {label!r} is column {ours.index(label)}; the columns are bound by "
                         f"position, so a file that names our hyperparameters must list them in our order "
                         f"({len(misplaced)} column(s) out of place)")
    targets = []
    sources = {}
    for target in _TARGETS:
        path = src / AUTHOR_FILES[target.name]
        text = read_text(path, MAX_MODEL_TEXT_BYTES)
        try:
            models, best_iteration = parse_cv_booster_json(text)
        except (ValueError, NotImplementedError) as e:
            raise type(e)(f"{path}: {e}") from None
        width = models[0].num_features
        if width != len(labels):
            raise ValueError(f"{path}: the models use {width} features but {LABEL_FILE} lists {len(labels)} "
                             f"and space {space!r} has {len(ours)}. Wrong --space?")
        for m in models:
            generic = all(n == f"Column_{i}" for i, n in enumerate(m.feature_names))
            if m.feature_names and not generic and list(m.feature_names) != [s.replace(" ", "_") for s in labels]:
                raise ValueError(f"{path}: model feature names {list(m.feature_names[:3])}... differ from "
                                 f"{LABEL_FILE} {labels[:3]}...; cannot tell the column order")
        targets.append((target, models))
        sources[path.name] = {"sha256": hashlib.sha256(text.encode()).hexdigest(),
                              "best_iteration_recorded": best_iteration}
    provenance = {
        "kind": "authors' LightGBM surrogates (Akizuki et al. 2025), converted to ONNX",
        "source_folder": str(src.resolve()),
        "source_files": sources,
        "columns": dict(zip(ours, labels)),
        "dfs_code_mapping": {"A": 0, "B": 1, "none": 2} if space == "dfs" else None,
        "prediction": "mean over CV folds of all trees stored per fold (as lgb.CVBooster(model_file=...).predict), "
                      "clipped to [0, 1]; inputs clipped to the space bounds",
    }
    quality = {"source": "reported by Akizuki et al. 2025 on their held-out 10 %, not re-measured",
               "targets": _REPORTED_QUALITY[space]}
    with staging_folder() as staging:
        write_lightgbm_scenario(staging, name=name, space=space, targets=targets,
                                description=f"SMM-Bench-{space.upper()} (authors' surrogates)",
                                provenance=provenance, quality=quality)
        from .benchmark import Benchmark  # a test load: a scenario that cannot serve is never registered

        bench = Benchmark(staging)
        x_cat, x_cont = bench.encode([dict(bench.configspace.get_default_configuration())])
        bench.evaluate_array(x_cat, x_cont)
        del bench
        return install(staging, name, force=force)
