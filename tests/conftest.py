"""Shared fixtures: an isolated data dir for every test, and real LightGBM CV ensembles
trained on synthetic data at test time (small: few trees, one thread), saved in the
authors' exact format (``CVBooster.save_model``). Nothing synthetic is ever shipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

PS_DIM = 64
DFS_CAT, DFS_CONT = 32, 63


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own SMM_BENCH_DATA_DIR; nothing touches the user's home."""
    d = tmp_path / "smm-data"
    monkeypatch.setenv("SMM_BENCH_DATA_DIR", str(d))
    return d


def ps_inputs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random((n, PS_DIM))


def dfs_inputs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Authors' DFS layout: 32 slot codes 0/1/2 as numbers, then 63 scales in [0.4, 1.5]."""
    return np.hstack([rng.integers(0, 3, (n, DFS_CAT)).astype(np.float64), rng.uniform(0.4, 1.5, (n, DFS_CONT))])


def synthetic_target(X: np.ndarray, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    """A smooth, interaction-rich response in roughly [0, 1] (so clipping is exercised)."""
    n, d = X.shape
    y = 0.45 + 0.25 * np.sin(3 * X[:, 0]) * X[:, d - 1] + 0.2 * (X[:, 1] - X[:, d // 2]) ** 2
    y += 0.15 * X[:, 2] * X[:, 3] - 0.1 * X[:, d - 2] + shift
    return y + rng.normal(0, 0.03, n)


def train_cv(X, y, *, rounds=15, leaves=15, categorical=(), nfold=5, params=None, callbacks=None, seed=0):
    """A real ``lightgbm.CVBooster`` (5 folds by default)."""
    import lightgbm as lgb

    p = dict(objective="regression", num_leaves=leaves, learning_rate=0.2, verbose=-1, num_threads=1,
             min_data_in_leaf=10, seed=seed, deterministic=True)
    p.update(params or {})
    ds = lgb.Dataset(X, y, categorical_feature=list(categorical) or "auto", params={"verbose": -1},
                     free_raw_data=False)
    res = lgb.cv(p, ds, num_boost_round=rounds, nfold=nfold, stratified=False, return_cvbooster=True,
                 seed=seed, callbacks=callbacks)
    return res["cvbooster"]


def reference_predict(model_file: Path, X: np.ndarray, lower=0.0, upper=1.0) -> np.ndarray:
    """What the authors' loader computes: mean over folds of CVBooster(model_file).predict, clipped."""
    import lightgbm as lgb

    cvb = lgb.CVBooster(model_file=str(model_file))
    return np.array(cvb.predict(X)).mean(0).clip(lower, upper)


def write_authors_folder(folder: Path, space: str, *, n=1500, rounds=15, seed=0, categorical=False) -> Path:
    """A folder in the authors' release format with real CV ensembles on synthetic data."""
    rng = np.random.default_rng(seed)
    X = ps_inputs(rng, n) if space == "ps" else dfs_inputs(rng, n)
    cats = range(DFS_CAT) if (space == "dfs" and categorical) else ()
    folder.mkdir(parents=True, exist_ok=True)
    for fname, shift in (("train_acc_ja_best_model.json", 0.0), ("test_acc_ja_best_model.json", 0.08)):
        cvb = train_cv(X, synthetic_target(X, rng, shift), rounds=rounds, categorical=cats, seed=seed)
        cvb.save_model(str(folder / fname))
    labels = ([f"w_{m}_{l}" for m in range(2) for l in range(32)] if space == "ps"
              else [f"layer_{i}" for i in range(DFS_CAT)] + [f"scale_{p}" for p in range(1, 64)])
    (folder / "label.json").write_text(json.dumps({"x": labels}))
    return folder


@pytest.fixture(scope="session")
def authors_ps(tmp_path_factory) -> Path:
    return write_authors_folder(tmp_path_factory.mktemp("authors_ps"), "ps")


@pytest.fixture(scope="session")
def authors_dfs(tmp_path_factory) -> Path:
    return write_authors_folder(tmp_path_factory.mktemp("authors_dfs"), "dfs")


@pytest.fixture(scope="session")
def ps_scenario(tmp_path_factory, authors_ps) -> Path:
    """A PS scenario folder (imported from the synthetic authors' folder) in a session tmp dir."""
    import os

    from smm_bench_plugin.importer import import_lightgbm

    old = os.environ.get("SMM_BENCH_DATA_DIR")
    os.environ["SMM_BENCH_DATA_DIR"] = str(tmp_path_factory.mktemp("session-data"))
    try:
        return import_lightgbm(authors_ps, "ps")
    finally:
        if old is None:
            del os.environ["SMM_BENCH_DATA_DIR"]
        else:
            os.environ["SMM_BENCH_DATA_DIR"] = old


@pytest.fixture(scope="session")
def dfs_scenario(tmp_path_factory, authors_dfs) -> Path:
    import os

    from smm_bench_plugin.importer import import_lightgbm

    old = os.environ.get("SMM_BENCH_DATA_DIR")
    os.environ["SMM_BENCH_DATA_DIR"] = str(tmp_path_factory.mktemp("session-data-dfs"))
    try:
        return import_lightgbm(authors_dfs, "dfs")
    finally:
        if old is None:
            del os.environ["SMM_BENCH_DATA_DIR"]
        else:
            os.environ["SMM_BENCH_DATA_DIR"] = old


def skip_unless_ci(reason: str) -> None:
    """Skip locally; under ``.ci/run`` (``SMM_BENCH_CI=1``) fail instead, so a side venv or wheel
    that CI should have provided can never turn its tests into silent skips."""
    if os.environ.get("SMM_BENCH_CI") == "1":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


def side_venv_python(env_var: str, local_venv: str, extras: str) -> str:
    """Python of a side venv (yahpo-gym and the carps/hposuite/SMAC suites cannot share ours).

    ``.ci/run`` creates it and exports ``env_var``; locally ``<repo>/<local_venv>`` is used if it
    exists, otherwise the calling test is skipped with the command that makes it.
    """
    given = os.environ.get(env_var)
    if given:
        return given
    local = Path(__file__).resolve().parents[1] / local_venv / "bin" / "python"
    if local.exists():
        return str(local)
    skip_unless_ci(f"no {local_venv} venv: .ci/run sets {env_var}; locally create it "
                   f"(python3 -m venv {local_venv} && {local_venv}/bin/pip install -e '.[{extras}]')")


def user_scenario_names() -> list[str]:
    """Scenarios in the (isolated) user data dir, i.e. ``list_scenarios()`` minus the bundled ones."""
    from smm_bench_plugin.paths import scenario_entries

    return [e.name for e in scenario_entries() if e.source == "user"]


MF_LADDER = [16, 32, 64, 128, 256]


def write_mf_scenario(folder: Path, space: str, seed: int = 0, noise_scale=(0.8, 0.7, 0.6, 0.5, 0.0)):
    """A multi-fidelity scenario from real small LightGBM models on synthetic data, through the
    writer the training side uses: (folder, CVBoosters in tree order, learner-layout rows)."""
    from smm_bench_plugin.convert import write_multifidelity_scenario
    from smm_bench_plugin.lgbm_text import parse_cv_booster_json
    from smm_bench_plugin.scenario import Target

    rng = np.random.default_rng(seed)
    X = ps_inputs(rng, 800) if space == "ps" else dfs_inputs(rng, 800)
    cats = range(DFS_CAT) if space == "dfs" else ()
    ys = [synthetic_target(X, rng)] + [rng.normal(0.02 * j, 0.03, len(X)) for j in range(4)] + \
         [synthetic_target(X, rng, 0.05), 3.0 + X[:, -1]]
    cvbs = [train_cv(X, y, rounds=8, categorical=cats, nfold=2) for y in ys]
    trees = [(f"t{j}", parse_cv_booster_json(cvb.model_to_string())[0]) for j, cvb in enumerate(cvbs)]
    targets = [Target("acc", "objective", 0.0, 1.0), Target("test_acc", "test", 0.0, 1.0),
               Target("seconds", "cost", 0.0, float("inf"), direction="minimize")]
    fidelity = {"name": "n_items", "ladder": MF_LADDER, "noise_scale": list(noise_scale),
                "cost_share": [0.2, 0.25, 0.3, 0.45, 0.75]}
    path = write_multifidelity_scenario(folder, name=folder.name, space=space, trees=trees, targets=targets,
                                        fidelity=fidelity)
    return path, cvbs, X
