"""The compiled-evaluator case's model plumbing (no compiler needed): the joined model and the threshold rows."""
import numpy as np

from bench.compiled_cases import K_ZERO_THRESHOLD, joined_model_text, on_thresholds, split_thresholds


def _folds():
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = np.hstack([rng.integers(0, 3, (600, 2)).astype(float), rng.normal(size=(600, 3))])
    y = X[:, 2] + np.sin(X[:, 3]) + 0.5 * (X[:, 0] == 1) + 0.05 * rng.standard_normal(600)
    params = {"objective": "regression", "num_leaves": 7, "verbosity": -1, "num_threads": 1, "seed": 0,
              "deterministic": True}
    ds = lgb.Dataset(X, y, categorical_feature=[0, 1], free_raw_data=False)
    res = lgb.cv(params, ds, num_boost_round=30, nfold=3, stratified=False, seed=0, return_cvbooster=True)
    return X, [b.model_to_string() for b in res["cvbooster"].boosters]


def test_joined_model_is_the_sum_of_its_folds_for_lightgbm_itself():
    import lightgbm as lgb

    X, strings = _folds()
    joined = lgb.Booster(model_str=joined_model_text(strings))
    folds = [lgb.Booster(model_str=s) for s in strings]
    assert joined.num_trees() == sum(b.num_trees() for b in folds)
    total = np.sum([b.predict(X, num_threads=1) for b in folds], axis=0)
    assert np.abs(joined.predict(X, num_threads=1) - total).max() <= 1e-12
    assert joined_model_text(strings).rstrip().endswith("pandas_categorical:null")  # the trailer lleaves reads


def test_threshold_rows_sit_on_numerical_splits_and_zero_splits_at_zero():
    X, strings = _folds()
    thresholds = split_thresholds(strings)
    assert set(thresholds) <= {2, 3, 4}  # the categorical columns 0, 1 have no numerical thresholds
    rows = on_thresholds(X[:200], thresholds, np.random.default_rng(1))
    for f, thr in thresholds.items():
        allowed = set(np.where(np.abs(thr) <= K_ZERO_THRESHOLD, 0.0, thr))
        assert set(rows[:, f]) <= allowed and len(set(rows[:, f])) > 1
    untouched = [f for f in range(X.shape[1]) if f not in thresholds]
    assert np.array_equal(rows[:, untouched], X[:200, untouched])
