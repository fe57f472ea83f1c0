"""Paper-sized LightGBM CV ensembles on synthetic data, in the authors' exact release format.

Why synthetic: the authors' files are not reachable from here, but the speed of
both paths depends on the ensemble's SHAPE (inputs, folds, trees, leaves), not on what the
trees learnt. So we train real ``lgb.cv`` ensembles of the paper's shape on a smooth
synthetic response, save them with ``CVBooster.save_model`` (the authors' format: the two
``*_best_model.json`` files and ``label.json``) and import them through our importer, so
the benchmark compares the two loaders on the very same trees.

Training takes minutes on one core, so folders are cached under ``bench/.cache/``
(gitignored) and keyed by the shape; delete the folder to retrain.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["EnsembleShape", "SHAPES", "CACHE_DIR", "authors_folder", "imported_scenario", "learner_rows",
           "AUTHOR_FILES"]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
AUTHOR_FILES = ("train_acc_ja_best_model.json", "test_acc_ja_best_model.json")
_DFS_CAT, _DFS_CONT, _PS_DIM = 32, 63, 64


@dataclass(frozen=True)
class EnsembleShape:
    """The size of one synthetic authors' release (both target files share it)."""

    name: str
    space: str  # "ps" or "dfs"
    folds: int = 5
    trees: int = 2000
    leaves: int = 31
    rows: int = 10_000
    learning_rate: float = 0.02
    seed: int = 0

    @property
    def key(self) -> str:
        return f"{self.name}-{self.space}-f{self.folds}-t{self.trees}-l{self.leaves}-n{self.rows}-s{self.seed}"


#: ``paper_*``: stand-ins for the authors' released surrogates, 5-fold CV ensembles of a chosen size
#: (PS 5 folds x 2000 trees, a smaller DFS one), per target file. ``small_*``: 5 x 100 trees, for
#: smoke runs of the suite itself.
SHAPES = {
    "paper_ps": EnsembleShape("paper_ps", "ps", trees=2000),
    "paper_dfs": EnsembleShape("paper_dfs", "dfs", trees=1000),
    "small_ps": EnsembleShape("small_ps", "ps", trees=100, rows=3000),
    "small_dfs": EnsembleShape("small_dfs", "dfs", trees=100, rows=3000),
}


def learner_rows(space: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows in the authors' learner layout: PS 64 floats in [0, 1]; DFS 32 codes 0/1/2 then 63 scales."""
    if space == "ps":
        return rng.random((n, _PS_DIM))
    return np.hstack([rng.integers(0, 3, (n, _DFS_CAT)).astype(np.float64), rng.uniform(0.4, 1.5, (n, _DFS_CONT))])


def _response(X: np.ndarray, rng: np.random.Generator, shift: float) -> np.ndarray:
    """A smooth response with interactions in roughly [0, 1] (trees of full depth get grown)."""
    d = X.shape[1]
    u = (X - X.min(0)) / np.maximum(np.ptp(X, 0), 1e-12)
    y = 0.4 + 0.2 * np.sin(3 * u[:, 0]) * u[:, d - 1] + 0.15 * (u[:, 1] - u[:, d // 2]) ** 2
    y += 0.1 * u[:, 2] * u[:, 3] - 0.1 * u[:, d - 2] + 0.1 * u[:, 5:25].mean(1) + shift
    return y + rng.normal(0, 0.03, len(X))


def _labels(space: str) -> list[str]:
    if space == "ps":
        return [f"w_{m}_{layer}" for m in range(2) for layer in range(32)]
    return [f"layer_{i}" for i in range(_DFS_CAT)] + [f"scale_{p}" for p in range(1, 64)]


def authors_folder(shape: EnsembleShape, cache: Path = CACHE_DIR, log=print) -> Path:
    """The cached authors'-format folder of ``shape`` (trained with ``lgb.cv`` if absent)."""
    folder = cache / "authors" / shape.key
    if (folder / "label.json").is_file():
        return folder
    import lightgbm as lgb

    tmp = folder.with_name(folder.name + f".tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(shape.seed)
    X = learner_rows(shape.space, shape.rows, rng)
    params = dict(objective="regression", num_leaves=shape.leaves, learning_rate=shape.learning_rate, verbose=-1,
                  num_threads=1, seed=shape.seed, deterministic=True, min_data_in_leaf=20)
    for fname, shift in zip(AUTHOR_FILES, (0.0, 0.05)):
        log(f"training {shape.key} {fname} ({shape.folds} folds x {shape.trees} trees, 1 thread) ...")
        ds = lgb.Dataset(X, _response(X, rng, shift), params={"verbose": -1}, free_raw_data=False)
        res = lgb.cv(params, ds, num_boost_round=shape.trees, nfold=shape.folds, stratified=False,
                     return_cvbooster=True, seed=shape.seed)
        res["cvbooster"].save_model(str(tmp / fname))
    (tmp / "label.json").write_text(json.dumps({"x": _labels(shape.space)}))
    (tmp / "shape.json").write_text(json.dumps(asdict(shape)))
    os.replace(tmp, folder) if not folder.exists() else None
    return folder


def imported_scenario(shape: EnsembleShape, cache: Path = CACHE_DIR, log=print) -> tuple[Path, Path]:
    """(authors' folder, our scenario folder imported from it through ``import_lightgbm``)."""
    authors = authors_folder(shape, cache, log)
    data = cache / "data"
    scenario = data / "scenarios" / shape.key
    if not (scenario / "meta.json").is_file():
        from smm_bench_plugin.importer import import_lightgbm

        old = os.environ.get("SMM_BENCH_DATA_DIR")
        os.environ["SMM_BENCH_DATA_DIR"] = str(data)
        try:
            log(f"importing {authors.name} through smm_bench_plugin.importer ...")
            import_lightgbm(authors, shape.space, name=shape.key, force=True)
        finally:
            if old is None:
                os.environ.pop("SMM_BENCH_DATA_DIR", None)
            else:
                os.environ["SMM_BENCH_DATA_DIR"] = old
    return authors, scenario
