"""LightGBM text -> ONNX converter: parity with LightGBM itself (<= 1e-12), including rows
placed exactly on, just above and just below every split threshold, NaN semantics, the
fold-mean, categorical splits, constant trees, rf averaging and best_iteration handling."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from conftest import (DFS_CAT, DFS_CONT, PS_DIM, dfs_inputs, ps_inputs, reference_predict, synthetic_target,
                      train_cv)

from smm_bench_plugin.lgbm_text import parse_cv_booster_json, parse_model_string
from smm_bench_plugin.onnx_export import build_onnx

TOL = 1e-12


def _session(model_bytes: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def _convert(files, n_cat, lo, hi, tlo=0.0, thi=1.0):
    targets = [parse_cv_booster_json(f.read_text())[0] for f in files]
    return _session(build_onnx(targets, n_cat=n_cat, cont_lower=lo, cont_upper=hi,
                               target_lower=[tlo] * len(files), target_upper=[thi] * len(files)))


def _run(sess, X, n_cat):
    x_cat = (X[:, :n_cat] + 1).astype(np.int32)  # learner codes 0..K-1 -> YAHPO codes 1..K
    return sess.run(None, {"x_cat": x_cat, "x_cont": np.ascontiguousarray(X[:, n_cat:])})[0]


def _threshold_rows(files, base: np.ndarray, n_cat: int, lo, hi) -> np.ndarray:
    """Rows with one feature set exactly on a split threshold, or one ulp above/below it."""
    rows = []
    k = 0
    for f in files:
        for model in parse_cv_booster_json(f.read_text())[0]:
            for tree in model.trees:
                for feat, thr, dt in zip(tree.split_feature, tree.threshold, tree.decision_type):
                    if dt & 1 or feat < n_cat:
                        continue  # categorical inputs are integer codes; covered by the random rows
                    for v in (thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)):
                        if lo <= v <= hi:
                            r = base[k % len(base)].copy()
                            r[feat] = v
                            rows.append(r)
                            k += 1
    assert len(rows) > 300, "too few thresholds to make the test meaningful"
    return np.array(rows)


@pytest.fixture(scope="module")
def ps_files(tmp_path_factory):
    rng = np.random.default_rng(1)
    X = ps_inputs(rng, 2000)
    d = tmp_path_factory.mktemp("ps")
    files = []
    for t, shift in (("a", 0.0), ("b", 0.1)):
        f = d / f"{t}.json"
        train_cv(X, synthetic_target(X, rng, shift), rounds=20).save_model(str(f))
        files.append(f)
    return files


@pytest.mark.parametrize("categorical", [False, True], ids=["dfs-numeric-codes", "dfs-categorical-splits"])
def test_dfs_parity_random_and_thresholds(tmp_path, categorical):
    rng = np.random.default_rng(2)
    X = dfs_inputs(rng, 2000)
    f = tmp_path / "dfs.json"
    train_cv(X, synthetic_target(X, rng), rounds=20, categorical=range(DFS_CAT) if categorical else ()).save_model(str(f))
    models = parse_cv_booster_json(f.read_text())[0]
    n_cat_splits = sum(dt & 1 for m in models for t in m.trees for dt in t.decision_type)
    assert (n_cat_splits > 0) == categorical
    sess = _convert([f], DFS_CAT, [0.4] * DFS_CONT, [1.5] * DFS_CONT)
    Xr = dfs_inputs(np.random.default_rng(3), 10_000)
    assert np.abs(_run(sess, Xr, DFS_CAT)[:, 0] - reference_predict(f, Xr)).max() <= TOL
    Xt = _threshold_rows([f], Xr, DFS_CAT, 0.4, 1.5)
    assert np.abs(_run(sess, Xt, DFS_CAT)[:, 0] - reference_predict(f, Xt)).max() <= TOL


def test_ps_parity_two_targets_random_and_thresholds(ps_files):
    sess = _convert(ps_files, 0, [0.0] * PS_DIM, [1.0] * PS_DIM)
    Xr = ps_inputs(np.random.default_rng(4), 10_000)
    Xt = _threshold_rows(ps_files, Xr, 0, 0.0, 1.0)
    for X in (Xr, Xt):
        out = _run(sess, X, 0)
        assert out.shape == (len(X), 2) and out.dtype == np.float64
        for j, f in enumerate(ps_files):
            assert np.abs(out[:, j] - reference_predict(f, X)).max() <= TOL


def test_input_and_output_clipping_inside_graph(ps_files):
    """Inputs outside the space are clipped to it; outputs to the target's bounds (here a
    narrow [0.45, 0.55] so that both sides are hit)."""
    sess = _convert(ps_files[:1], 0, [0.0] * PS_DIM, [1.0] * PS_DIM, 0.45, 0.55)
    rng = np.random.default_rng(5)
    X = rng.uniform(-0.5, 1.5, (2000, PS_DIM))
    out = _run(sess, X, 0)[:, 0]
    raw = np.array(__import__("lightgbm").CVBooster(model_file=str(ps_files[0])).predict(X.clip(0, 1))).mean(0)
    assert (raw < 0.45).any() and (raw > 0.55).any()
    assert np.abs(out - raw.clip(0.45, 0.55)).max() <= TOL


def test_nan_follows_lightgbm_semantics(tmp_path):
    """Missing type NaN (trained with NaNs) and None (trained without): NaN rows match LightGBM."""
    rng = np.random.default_rng(6)
    X = rng.random((3000, 6))
    y = synthetic_target(X, rng)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.15] = np.nan
    for name, Xtrain in (("none", X), ("nan", X_nan)):
        f = tmp_path / f"{name}.json"
        train_cv(Xtrain, y, rounds=15).save_model(str(f))
        text = f.read_text()
        missing_types = {(dt >> 2) & 3 for m in parse_cv_booster_json(text)[0] for t in m.trees for dt in t.decision_type}
        assert missing_types == ({2} if name == "nan" else {0})
        sess = _convert([f], 0, [-np.inf] * 6, [np.inf] * 6, -np.inf, np.inf)
        Xt = rng.random((4000, 6))
        Xt[rng.random(Xt.shape) < 0.3] = np.nan
        assert np.abs(_run(sess, Xt, 0)[:, 0] - reference_predict(f, Xt, -np.inf, np.inf)).max() <= TOL


def test_constant_trees_and_rf_average_output(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.random((400, 5))
    y = synthetic_target(X, rng)
    f_const = tmp_path / "const.json"
    train_cv(X, y, rounds=5, params={"min_data_in_leaf": 350}).save_model(str(f_const))
    assert "num_leaves=1" in f_const.read_text()
    f_rf = tmp_path / "rf.json"
    train_cv(X, y, rounds=8, params={"boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1,
                                     "feature_fraction": 0.8}).save_model(str(f_rf))
    assert "average_output" in f_rf.read_text()
    Xt = rng.random((3000, 5))
    for f in (f_const, f_rf):
        sess = _convert([f], 0, [0.0] * 5, [1.0] * 5, -np.inf, np.inf)
        assert np.abs(_run(sess, Xt, 0)[:, 0] - reference_predict(f, Xt, -np.inf, np.inf)).max() <= TOL


def test_best_iteration_as_cvbooster_predicts(tmp_path):
    """Early stopping truncates the saved strings; a loaded CVBooster predicts with every tree
    in them whatever the JSON's best_iteration says. The converter must do the same."""
    import lightgbm as lgb

    rng = np.random.default_rng(8)
    X = rng.random((600, 8))
    y = synthetic_target(X, rng) + rng.normal(0, 0.3, 600)  # noisy: stops early
    cvb = train_cv(X, y, rounds=200, params={"learning_rate": 0.5}, callbacks=[lgb.early_stopping(3, verbose=False)])
    assert 0 < cvb.best_iteration < 200
    f = tmp_path / "es.json"
    cvb.save_model(str(f))
    models, best = parse_cv_booster_json(f.read_text())
    assert best == cvb.best_iteration and all(len(m.trees) == best for m in models)
    Xt = rng.random((3000, 8))
    sess = _convert([f], 0, [0.0] * 8, [1.0] * 8)
    assert np.abs(_run(sess, Xt, 0)[:, 0] - reference_predict(f, Xt)).max() <= TOL
    assert np.abs(np.array(cvb.predict(Xt)).mean(0).clip(0, 1) - reference_predict(f, Xt)).max() <= TOL
    # a file whose best_iteration field disagrees with its strings: LightGBM ignores the field
    doc = json.loads(f.read_text())
    full = train_cv(X, y, rounds=12)
    doc = {"boosters": json.loads(full.model_to_string())["boosters"], "best_iteration": 3}
    g = tmp_path / "mismatch.json"
    g.write_text(json.dumps(doc))
    sess = _convert([g], 0, [0.0] * 8, [1.0] * 8)
    assert np.abs(_run(sess, Xt, 0)[:, 0] - reference_predict(g, Xt)).max() <= TOL


def test_zero_missing_type_is_rejected(tmp_path):
    rng = np.random.default_rng(9)
    X = rng.random((500, 4))
    X[rng.random(X.shape) < 0.3] = 0.0
    f = tmp_path / "zero.json"
    train_cv(X, synthetic_target(X, rng), rounds=3, params={"zero_as_missing": True}).save_model(str(f))
    models, _ = parse_cv_booster_json(f.read_text())
    with pytest.raises(NotImplementedError, match="zero_as_missing"):
        build_onnx([models], n_cat=0, cont_lower=[0.0] * 4, cont_upper=[1.0] * 4, target_lower=[0.0], target_upper=[1.0])


@pytest.mark.parametrize("objective", ["binary", "poisson", "regression sqrt"])
def test_non_identity_objectives_are_rejected(tmp_path, objective):
    rng = np.random.default_rng(10)
    X = rng.random((300, 3))
    y = (X[:, 0] > 0.5).astype(float) if objective == "binary" else X[:, 0] + 0.1
    params = {"objective": objective.split()[0], "reg_sqrt": objective.endswith("sqrt")}
    booster_text = json.loads(train_cv(X, y, rounds=2, params=params).model_to_string())["boosters"][0]
    with pytest.raises(NotImplementedError, match="objective"):
        parse_model_string(booster_text)


def test_multiclass_models_are_rejected():
    """A real 3-class model has 3 trees per iteration: refused, not read as one regression."""
    rng = np.random.default_rng(11)
    X = rng.random((300, 3))
    y = np.floor(X[:, 0] * 3).clip(0, 2)
    params = {"objective": "multiclass", "num_class": 3}
    booster_text = json.loads(train_cv(X, y, rounds=2, params=params).model_to_string())["boosters"][0]
    assert "num_class=3" in booster_text
    with pytest.raises(NotImplementedError,
                       match=r"multiclass LightGBM models are not supported \(num_class must be 1\)"):
        parse_model_string(booster_text)


def test_linear_trees_are_rejected():
    """A real linear_tree=True model predicts with per-leaf linear models the graph does not hold."""
    rng = np.random.default_rng(12)
    X = rng.random((300, 3))
    booster_text = json.loads(train_cv(X, X[:, 0] * 2 + X[:, 1], rounds=2,
                                       params={"linear_tree": True}).model_to_string())["boosters"][0]
    assert "is_linear=1" in booster_text
    with pytest.raises(NotImplementedError, match=r"linear trees \(linear_tree=true\) are not supported"):
        parse_model_string(booster_text)


def test_malformed_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="CVBooster JSON: invalid JSON"):
        parse_cv_booster_json("{not json")
    with pytest.raises(ValueError, match="boosters"):
        parse_cv_booster_json(json.dumps({"best_iteration": 1}))
    with pytest.raises(ValueError, match="LightGBM text model"):
        parse_cv_booster_json(json.dumps({"boosters": ["hello"], "best_iteration": -1}))
    with pytest.raises(ValueError, match="end of trees"):
        parse_model_string("tree\nmax_feature_idx=2\nTree=0\nnum_leaves=1\nleaf_value=1\n")


def test_feature_count_mismatch_is_rejected(ps_files):
    models = parse_cv_booster_json(ps_files[0].read_text())[0]
    with pytest.raises(ValueError, match="64 features"):
        build_onnx([models], n_cat=32, cont_lower=[0.4] * 63, cont_upper=[1.5] * 63,
                   target_lower=[0.0], target_upper=[1.0])


def test_single_target_graph_keeps_the_multi_target_node(ps_files):
    """One target still goes through a two-column TreeEnsemble (the second without trees),
    sliced back to [N, 1]: the same onnxruntime code path as the scenario's full graph, so an
    objective-only graph reproduces the full graph's column bit for bit (1 thread)."""
    import onnx

    targets = [parse_cv_booster_json(f.read_text())[0] for f in ps_files]
    kw = dict(n_cat=0, cont_lower=[0.0] * PS_DIM, cont_upper=[1.0] * PS_DIM)
    one = build_onnx(targets[:1], target_lower=[0.0], target_upper=[1.0], **kw)
    both = build_onnx(targets, target_lower=[0.0, 0.0], target_upper=[1.0, 1.0], **kw)
    node = next(n for n in onnx.load_from_string(one).graph.node if n.op_type == "TreeEnsemble")
    assert next(a.i for a in node.attribute if a.name == "n_targets") == 2
    X = ps_inputs(np.random.default_rng(3), 3000)
    y_one, y_both = _run(_session(one), X, 0), _run(_session(both), X, 0)
    assert y_one.shape == (3000, 1)
    assert np.array_equal(y_one[:, 0], y_both[:, 0])
    assert np.abs(y_one[:, 0] - reference_predict(ps_files[0], X)).max() <= TOL
