"""Derived features computed inside the scenario graph (smm_bench_plugin.derived_features)."""
import numpy as np
import pytest

from smm_bench_plugin.derived_features import DEFAULT_SET, FEATURE_SETS, compute, feature_names


def dfs_rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(0, 3, (n, 32)).astype(float), rng.uniform(0.4, 1.5, (n, 63))])


def reference(X: np.ndarray) -> np.ndarray:
    """The DFS path features written out independently with numpy (docs/ARCHITECTURE.md's path layout)."""
    cat, scales = X[:, :32], X[:, 32:]
    eff = scales.copy()
    eff[:, 30:62] = np.where(cat == 2, 1.0, scales[:, 30:62])  # a skipped slot multiplies by 1
    z = (eff - 1.0) / (eff + 1.0)
    z2 = z * z
    z3 = z2 * z
    z5 = z3 * z2
    log = ((z + z3 * (1.0 / 3.0)) + z5 * (1.0 / 5.0)) * 2.0  # 2 atanh z ~ log s, the graph's operation order
    cum = np.cumsum(log, axis=1)  # sequential, like CumSum
    return np.column_stack([cum[:, -1], np.cumsum(np.abs(log), axis=1)[:, -1], eff.min(1), eff.max(1),
                            (eff < 0.7).sum(1), (eff > 1.3).sum(1), cum[:, 9], cum[:, 19], cum[:, 29], cum[:, 45],
                            (cat == 0).sum(1), (cat == 1).sum(1)])


def test_dfs_path_features_match_an_independent_numpy_version_bit_for_bit():
    X = dfs_rows(2000)
    got = compute("dfs-path-v1", X, 32)
    assert got.shape == (2000, len(feature_names("dfs-path-v1"))) == (2000, 12)
    np.testing.assert_array_equal(got, reference(X))  # IEEE add/mul/div and sequential sums only
    # and the series is close to the true log of the path's scale product (< 1e-3 per position)
    cat, scales = X[:, :32], X[:, 32:].copy()
    scales[:, 30:62] = np.where(cat == 2, 1.0, scales[:, 30:62])
    assert np.abs(got[:, 0] - np.log(scales).sum(1)).max() < 63e-3


def reference_v2(X: np.ndarray) -> np.ndarray:
    """dfs-path-v2's extra columns with numpy: the shape of the running log-sum c_0 = 0, c_1..c_63."""
    cat, scales = X[:, :32], X[:, 32:]
    eff = scales.copy()
    eff[:, 30:62] = np.where(cat == 2, 1.0, scales[:, 30:62])
    z = (eff - 1.0) / (eff + 1.0)
    z3 = (z * z) * z
    log = ((z + z3 * (1.0 / 3.0)) + (z3 * (z * z)) * (1.0 / 5.0)) * 2.0  # the graph's series, as in reference()
    c = np.column_stack([np.zeros(len(X)), np.cumsum(log, axis=1)])  # 64 values
    low, end = c.min(1), c[:, -1]
    win8, win16 = c[:, 8:] - c[:, :-8], c[:, 16:] - c[:, :-16]
    return np.column_stack([low, c.max(1), end - low, np.minimum(end - c[:, :-1].max(1), 0.0),
                            win8.min(1), win8.max(1), win16.min(1), win16.max(1),
                            np.cumsum(c[:, 1:], axis=1)[:, -1] / 63.0, np.argmin(c, axis=1),
                            np.cumsum(np.minimum(c, 0.0), axis=1)[:, -1] / 64.0,
                            np.cumsum(np.maximum(c, 0.0), axis=1)[:, -1] / 64.0])


def test_dfs_path_v2_is_v1_plus_the_running_products_shape_bit_for_bit():
    X = dfs_rows(2000, seed=4)
    got = compute("dfs-path-v2", X, 32)
    assert got.shape == (2000, len(feature_names("dfs-path-v2"))) == (2000, 24)
    np.testing.assert_array_equal(got[:, :12], compute("dfs-path-v1", X, 32))
    np.testing.assert_array_equal(got[:, 12:], reference_v2(X))


def test_dfs_path_v2_sees_a_dip_that_the_end_value_hides():
    """Scales 0.5 at A_1..A_10, then 1.5 at A_11..A_20, then 1: the product ends near 0.5^10 x 1.5^10
    but dipped to 0.5^10 first, at position 10."""
    X = np.column_stack([np.full((1, 32), 2.0), np.ones((1, 63))])
    X[0, 32:42], X[0, 42:52] = 0.5, 1.5
    f = dict(zip(feature_names("dfs-path-v2"), compute("dfs-path-v2", X, 32)[0]))
    assert f["cum_argmin"] == 10 and f["cum_min"] == pytest.approx(10 * np.log(0.5), abs=1e-2)
    assert f["log_scale_sum"] == pytest.approx(10 * np.log(0.75), abs=1e-2)  # the end value alone
    assert f["cum_recovery"] == pytest.approx(10 * np.log(1.5), abs=1e-2) and f["cum_max"] == 0
    assert f["win8_min"] == pytest.approx(8 * np.log(0.5), abs=1e-2)
    assert f["suffix_min"] == f["log_scale_sum"]  # c_0 = 0 is the path's high point: the lowest suffix is all of it


def ps_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 64))


def ps_reference(X: np.ndarray) -> np.ndarray:
    """The PS weight summaries written out independently with numpy (w0_l00..w0_l31, w1_l00..w1_l31)."""
    w0, w1 = X[:, :32], X[:, 32:]

    def mean(w):  # a sequential sum, then one divide, as the graph does it
        return np.cumsum(w, axis=1)[:, -1] / w.shape[1]

    thirds = [mean(w[:, a:b]) for w in (w0, w1) for a, b in ((0, 11), (11, 22), (22, 32))]
    return np.column_stack([mean(w0), mean(w1), *thirds, mean(w0 + w1), mean(w0 - w1),
                            w0.min(1), w0.max(1), w1.min(1), w1.max(1)])


def test_ps_weight_summaries_match_an_independent_numpy_version_bit_for_bit():
    X = ps_rows(2000)
    got = compute("ps-mean-v1", X, 0)
    assert got.shape == (2000, len(feature_names("ps-mean-v1"))) == (2000, 14)
    np.testing.assert_array_equal(got, ps_reference(X))
    assert feature_names("ps-mean-v1")[:2] == ["w0_mean", "w1_mean"]  # the weights of the non-layer tensors
    np.testing.assert_allclose(got[:, 0], X[:, :32].mean(1), rtol=1e-14)


@pytest.mark.parametrize("name,rows,n_cat", [("dfs-path-v1", dfs_rows(300, seed=2), 32),
                                              ("dfs-path-v2", dfs_rows(300, seed=2), 32),
                                              ("ps-mean-v1", ps_rows(300, seed=2), 0)])
def test_a_row_gets_the_same_bits_alone_or_in_any_batch(name, rows, n_cat):
    whole = compute(name, rows, n_cat)
    for size in (1, 7, 64):
        parts = np.vstack([compute(name, rows[i:i + size], n_cat) for i in range(0, 300, size)])
        np.testing.assert_array_equal(parts, whole)


def test_skipped_slots_do_not_count_and_the_default_path_is_neutral():
    X = dfs_rows(3, seed=1)
    X[0, :32] = 2  # every slot skipped, every scale 1: model A unchanged
    X[0, 32:] = 1.0
    X[1, :32] = 2  # every slot skipped: the slot scales have no effect...
    X[2] = X[1]
    X[2, 32 + 30:32 + 62] = 0.4  # ...whatever they are
    f = compute("dfs-path-v2", X, 32)
    np.testing.assert_array_equal(f[0], [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, *[0] * 12])  # flat path: no dip
    np.testing.assert_array_equal(f[1], f[2])  # bit for bit: no position-dependent arithmetic
    assert f[1, 10:12].tolist() == [0, 0]


def test_wrong_layouts_and_unknown_sets_are_refused_by_name():
    with pytest.raises(ValueError, match=r"dfs-path-v1.*32 categorical \+ 63 continuous.*0 \+ 20"):
        compute("dfs-path-v1", np.ones((4, 20)), 0)
    with pytest.raises(ValueError, match=r"ps-mean-v1.*0 categorical \+ 64 continuous.*32 \+ 63"):
        compute("ps-mean-v1", dfs_rows(4), 32)
    with pytest.raises(ValueError, match="unknown derived feature set 'ps-v9'"):
        feature_names("ps-v9")
    assert feature_names(None) == [] and set(DEFAULT_SET.values()) - {None} <= set(FEATURE_SETS)
