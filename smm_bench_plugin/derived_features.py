"""Derived features: functions of a configuration that a tree ensemble cannot form from the raw
columns, computed INSIDE the scenario's ONNX graph from the same inputs.

Why (DFS): the hidden state entering each position of the layer path is multiplied by that
position's scale (docs/ARCHITECTURE.md, the DFS path), so what the later layers see depends on the running PRODUCT of the
scales of the positions actually on the path (a skipped slot's scale has no effect). A tree
ensemble over 63 separate scale columns can only approximate a product with very many splits.
Giving it the log-scale sums, a few partial sums along the path, the extreme scales and the
numbers of inserted A / B layers lifts the held-out R² of the mini DFS surrogate a lot: the
validity report's learning curve shows both feature sets on the same rows with the same
parameters, and ``smm-bench train --derived none`` trains the paper's raw-feature model.
``dfs-path-v2`` adds the shape of that running product along the path (its low and high
points, recovery, steepest windows, areas); ``python -m smm_bench_surrogates.features``
compares the sets on the same rows.

Exactness: every value is computed with correctly rounded IEEE operations only (add, multiply,
divide, compare, min / max) and sequential sums (``CumSum``), never with a vectorised
transcendental function or a tree-shaped reduction, whose last bit can depend on a value's
position in the batch and on the CPU. So a row's features are the same bits at any batch size,
on any machine, and numpy reproduces them (the tests do). That is why the log of a scale is
the series ``2 (z + z^3/3 + z^5/5)``, ``z = (s - 1) / (s + 1)`` (the first terms of
``2 atanh z = log s``; off by < 1e-3 at s = 0.4, which a feature does not mind), not ``Log``.
Training still computes the columns by running the graph's own nodes (:func:`compute`).

Why (PS): the merge writes the tensors outside the decoder layers (embeddings, final norm,
lm_head) with each source's MEAN layer weight (our decision), and a layer block's effect
depends on the weights of its neighbours. ``ps-mean-v1`` gives the trees the two mean weights, the
means over thirds of the layer stack, the mean sum and difference of the two sources, and their
extremes; on the mini PS data they lift the held-out test R² by about 0.02 (the report's learning
curve measures it on the same rows, raw against derived).

A scenario's set is named in ``meta.json`` (``provenance.derived_features``); the runtime needs
nothing from it: the graph's inputs stay the space's raw columns.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .opsets import ONNX_ML_OPSET, ONNX_OPSET
from .sessions import open_session

__all__ = ["FEATURE_SETS", "DEFAULT_SET", "feature_names", "add_nodes", "compute"]

# DFS learner layout: 32 slot codes (0 = "A", 1 = "B", 2 = "none"), then scale01..scale63, where
# scale j belongs to path position j: positions 1..30 are A_1..A_30, 31..62 are slots 0..31,
# 63 is A_31 (position 0's scale is fixed to 1.0 and is not a column).
_DFS_SLOT_SCALES = (30, 62)  # the slot scales' column range among the 63 floats
_DFS_CUM_POSITIONS = (9, 19, 29, 45)  # partial log-scale sums: after A_10, A_20, A_30, slot 15
_DFS_LOW, _DFS_HIGH = 0.7, 1.3

FEATURE_SETS: dict[str, dict[str, Any]] = {
    "dfs-path-v1": {
        "n_cat": 32, "n_cont": 63,
        "names": ["log_scale_sum", "log_scale_abs_sum", "scale_min", "scale_max",
                  f"n_scales_below_{_DFS_LOW}", f"n_scales_above_{_DFS_HIGH}",
                  *[f"log_scale_cum_{j + 1:02d}" for j in _DFS_CUM_POSITIONS],
                  "n_inserted_A", "n_inserted_B"],
    },
}
# PS learner layout: w0_l00..w0_l31, then w1_l00..w1_l31 (no categoricals).
_PS_LAYERS = 32
_PS_THIRDS = ((0, 11), (11, 22), (22, 32))  # layer ranges [start, end) of the three stack parts
FEATURE_SETS["ps-mean-v1"] = {
    "n_cat": 0, "n_cont": 2 * _PS_LAYERS,
    "names": ["w0_mean", "w1_mean",
              *[f"w{m}_mean_l{a:02d}_{b - 1:02d}" for m in (0, 1) for a, b in _PS_THIRDS],
              "w_sum_mean", "w_diff_mean", "w0_min", "w0_max", "w1_min", "w1_max"],
}
# dfs-path-v2: v1, then the shape of the running log-product of the scales along the path, c_0 = 0,
# c_j = log e_1 + ... + log e_j (j = 1..63): how deep it dips, how high it climbs, how much it
# recovers by the end, its lowest suffix, its steepest 8- and 16-position falls and rises, its
# mean, where its low point is, and its area below and above zero. Positions are the path's 63
# scale positions, skipped slots included: a skipped slot adds log 1 = 0, so a window of 8
# positions spans 8 positions however many of them insert a layer, and cum_argmin is a position
# index (0..63), not a count of layers.
FEATURE_SETS["dfs-path-v2"] = {
    "n_cat": 32, "n_cont": 63,
    "names": [*FEATURE_SETS["dfs-path-v1"]["names"], "cum_min", "cum_max", "cum_recovery", "suffix_min",
              "win8_min", "win8_max", "win16_min", "win16_max", "prefix_sum_mean", "cum_argmin", "area_neg",
              "area_pos"],
}
DEFAULT_SET = {"dfs": "dfs-path-v2", "ps": "ps-mean-v1"}  # what ``smm-bench train --derived auto`` uses


def feature_names(name: str | None) -> list[str]:
    """Column names a set appends after the raw features (empty for None)."""
    return [] if name is None else list(_spec(name)["names"])


def _spec(name: str) -> dict[str, Any]:
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown derived feature set {name!r}; known: {sorted(FEATURE_SETS)}")
    return FEATURE_SETS[name]


def add_nodes(name: str, cat_codes: str, cont: str, n_cat: int, n_cont: int, prefix: str = "derived"):
    """ONNX nodes and initializers computing set ``name`` from the learner-layout tensors
    ``cat_codes`` (double [N, n_cat], codes 0..K-1) and ``cont`` (double [N, n_cont], clipped).

    Returns ``(nodes, initializers, output_name)``; the output is double [N, len(names)].
    """
    from onnx import helper, numpy_helper

    spec = _spec(name)
    if (n_cat, n_cont) != (spec["n_cat"], spec["n_cont"]):
        raise ValueError(f"derived feature set {name!r} needs {spec['n_cat']} categorical + {spec['n_cont']} "
                         f"continuous columns, the scenario has {n_cat} + {n_cont}")
    p = prefix

    def c(suffix: str, values, dtype) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), f"{p}_{suffix}"))
        return f"{p}_{suffix}"

    def n(op: str, inputs: list[str], out: str, **kw) -> str:
        nodes.append(helper.make_node(op, inputs, [f"{p}_{out}"], name=f"{p}_{out}", **kw))
        return f"{p}_{out}"

    nodes: list = []
    inits: list = []
    columns = _BUILDERS[name](n, c, cat_codes, cont, n_cont)
    out = n("Concat", columns, "features", axis=1)
    return nodes, inits, out


def _dfs_path_v1(n, c, cat_codes: str, cont: str, n_cont: int) -> list[str]:
    return _dfs_path(n, c, cat_codes, cont, n_cont)[0]


def _dfs_path_v2(n, c, cat_codes: str, cont: str, n_cont: int) -> list[str]:
    columns, log_cum, axes = _dfs_path(n, c, cat_codes, cont, n_cont)
    return columns + _running_product_shape(n, c, log_cum, n_cont, *axes)


def _running_product_shape(n, c, log_cum: str, n_cont: int, axis1: str, axis_scalar: str) -> list[str]:
    """dfs-path-v2's columns from the running log-sum ``log_cum`` [N, 63] (c_1..c_63).

    Why: a merge whose scale product dips deep somewhere along the path starves the later layers
    of signal even when later scales above 1 bring the product back, so the path's shape says
    more than its end value (``log_scale_sum``). ``prefix_sum_mean`` equals (``area_neg`` +
    ``area_pos``) x 64/63: kept, since a tree cannot add two columns. Only exact operations:
    min / max in any order, one subtraction or division per value, sequential CumSum.
    """
    zero = c("rp_zero", 0.0, np.float64)

    def reduce(op: str, x: str, out: str) -> str:
        return n(op, [x, axis1], out, keepdims=1)

    first = _columns(n, c, log_cum, 0, 1, "rp_c1", axis1)
    c0 = n("Concat", [n("Sub", [first, first], "rp_c0"), log_cum], "rp_path", axis=1)  # [N, 64], c_0 = +0.0
    width = n_cont + 1
    low, high = reduce("ReduceMin", c0, "cum_min"), reduce("ReduceMax", c0, "cum_max")
    end = _columns(n, c, c0, n_cont, width, "rp_end", axis1)
    # c_j - c_(j-k), j = k..63: how much the path's product changes over k consecutive positions
    windows = {k: n("Sub", [_columns(n, c, c0, k, width, f"rp_win{k}_to", axis1),
                            _columns(n, c, c0, 0, width - k, f"rp_win{k}_from", axis1)], f"rp_win{k}")
               for k in (8, 16)}
    positions = c("rp_positions", np.arange(width, dtype=np.float64)[None, :], np.float64)
    at_low = n("Where", [n("Equal", [c0, low], "rp_at_low"), positions, c("rp_width", float(width), np.float64)],
               "rp_low_positions")
    before_end = reduce("ReduceMax", _columns(n, c, c0, 0, n_cont, "rp_before_end", axis1), "rp_max_before_end")
    return [
        low, high, n("Sub", [end, low], "cum_recovery"),
        n("Min", [n("Sub", [end, before_end], "rp_suffix"), zero], "suffix_min"),
        reduce("ReduceMin", windows[8], "win8_min"), reduce("ReduceMax", windows[8], "win8_max"),
        reduce("ReduceMin", windows[16], "win16_min"), reduce("ReduceMax", windows[16], "win16_max"),
        _row_mean(n, c, log_cum, n_cont, "prefix_sum_mean", axis_scalar),
        reduce("ReduceMin", at_low, "cum_argmin"),
        _row_mean(n, c, n("Min", [c0, zero], "rp_below"), width, "area_neg", axis_scalar),
        _row_mean(n, c, n("Max", [c0, zero], "rp_above"), width, "area_pos", axis_scalar),
    ]


def _columns(n, c, x: str, start: int, end: int, out: str, axis1: str) -> str:
    """Columns ``start`` .. ``end - 1`` of ``x``."""
    return n("Slice", [x, c(f"{out}_s", [start], np.int64), c(f"{out}_e", [end], np.int64), axis1], out)


def _row_mean(n, c, x: str, width: int, out: str, axis_scalar: str) -> str:
    """The mean of each row's ``width`` values: a sequential sum, then one correctly rounded divide."""
    total = n("Gather", [n("CumSum", [x, axis_scalar], f"{out}_cum"), c(f"{out}_last", [width - 1], np.int64)],
              f"{out}_sum", axis=1)
    return n("Div", [total, c(f"{out}_n", float(width), np.float64)], out)


def _dfs_path(n, c, cat_codes: str, cont: str, n_cont: int) -> tuple[list[str], str, tuple[str, str]]:
    """dfs-path-v1's columns, the running log-sum of the scales along the path that v2 reads, and
    the axis initializers (as a list and as a scalar) for v2 to reuse."""
    from onnx import TensorProto

    lo, hi = _DFS_SLOT_SCALES
    axis1 = c("axis1", [1], np.int64)
    # effective scale of every path position: a skipped slot multiplies by 1.0
    before = n("Slice", [cont, c("s0", [0], np.int64), c("e0", [lo], np.int64), axis1], "scales_before")
    slots = n("Slice", [cont, c("s1", [lo], np.int64), c("e1", [hi], np.int64), axis1], "scales_slots")
    after = n("Slice", [cont, c("s2", [hi], np.int64), c("e2", [n_cont], np.int64), axis1], "scales_after")
    skipped = n("Equal", [cat_codes, c("none", 2.0, np.float64)], "skipped")
    one = c("one", 1.0, np.float64)
    slots_eff = n("Where", [skipped, one, slots], "slots_eff")
    eff = n("Concat", [before, slots_eff, after], "eff", axis=1)
    # log(s) = 2 atanh(z), z = (s - 1)/(s + 1), by its first three series terms (module doc)
    z = n("Div", [n("Sub", [eff, one], "s_minus_1"), n("Add", [eff, one], "s_plus_1")], "z")
    z2 = n("Mul", [z, z], "z2")
    z3 = n("Mul", [z2, z], "z3")
    z5 = n("Mul", [z3, z2], "z5")
    series = n("Add", [n("Add", [z, n("Mul", [z3, c("third", 1.0 / 3.0, np.float64)], "z3_3")], "t13"),
                       n("Mul", [z5, c("fifth", 1.0 / 5.0, np.float64)], "z5_5")], "t135")
    log_eff = n("Mul", [series, c("two", 2.0, np.float64)], "log_eff")
    last = c("last", [n_cont - 1], np.int64)
    axis_scalar = c("axis1_scalar", 1, np.int64)

    def running_sum(x: str, out: str) -> str:  # sequential, hence the same bits at any batch size
        return n("CumSum", [x, axis_scalar], f"{out}_cum")

    def path_sum(cum: str, out: str) -> str:
        return n("Gather", [cum, last], out, axis=1)

    def count(cond: str, out: str) -> str:  # sums of 0/1: exact in any order
        return n("ReduceSum", [n("Cast", [cond], f"{out}_f", to=TensorProto.DOUBLE), axis1], out, keepdims=1)

    log_cum = running_sum(log_eff, "log_sum")
    return [
        path_sum(log_cum, "log_sum"),
        path_sum(running_sum(n("Abs", [log_eff], "abs_log"), "abs_log_sum"), "abs_log_sum"),
        n("ReduceMin", [eff, axis1], "scale_min", keepdims=1),
        n("ReduceMax", [eff, axis1], "scale_max", keepdims=1),
        count(n("Less", [eff, c("low", _DFS_LOW, np.float64)], "below"), "n_below"),
        count(n("Greater", [eff, c("high", _DFS_HIGH, np.float64)], "above"), "n_above"),
        n("Gather", [log_cum, c("cum_at", list(_DFS_CUM_POSITIONS), np.int64)], "cum_at_positions", axis=1),
        count(n("Equal", [cat_codes, c("a", 0.0, np.float64)], "is_a"), "n_a"),
        count(n("Equal", [cat_codes, c("b", 1.0, np.float64)], "is_b"), "n_b"),
    ], log_cum, (axis1, axis_scalar)


def _ps_mean_v1(n, c, cat_codes: str, cont: str, n_cont: int) -> list[str]:
    axis1 = c("axis1", [1], np.int64)
    axis_scalar = c("axis1_scalar", 1, np.int64)

    def part(x: str, start: int, end: int, out: str) -> str:
        return _columns(n, c, x, start, end, out, axis1)

    def mean(x: str, width: int, out: str) -> str:
        return _row_mean(n, c, x, width, out, axis_scalar)

    w0 = part(cont, 0, _PS_LAYERS, "w0")
    w1 = part(cont, _PS_LAYERS, 2 * _PS_LAYERS, "w1")
    thirds = [mean(part(w, a, b, f"w{m}_l{a:02d}_{b - 1:02d}"), b - a, f"w{m}_mean_l{a:02d}_{b - 1:02d}")
              for m, w in ((0, w0), (1, w1)) for a, b in _PS_THIRDS]
    return [
        mean(w0, _PS_LAYERS, "w0_mean"),
        mean(w1, _PS_LAYERS, "w1_mean"),
        *thirds,
        mean(n("Add", [w0, w1], "w_sum"), _PS_LAYERS, "w_sum_mean"),
        mean(n("Sub", [w0, w1], "w_diff"), _PS_LAYERS, "w_diff_mean"),
        n("ReduceMin", [w0, axis1], "w0_min", keepdims=1),
        n("ReduceMax", [w0, axis1], "w0_max", keepdims=1),
        n("ReduceMin", [w1, axis1], "w1_min", keepdims=1),
        n("ReduceMax", [w1, axis1], "w1_max", keepdims=1),
    ]


_BUILDERS = {"dfs-path-v1": _dfs_path_v1, "dfs-path-v2": _dfs_path_v2, "ps-mean-v1": _ps_mean_v1}  # set name -> its columns' nodes


def feature_model(name: str, n_cat: int, n_cont: int) -> bytes:
    """A standalone graph ``(cat_codes, cont) -> derived`` with exactly the scenario graph's nodes."""
    import onnx
    from onnx import TensorProto, helper

    nodes, inits, out = add_nodes(name, "cat_codes", "cont", n_cat, n_cont)
    graph = helper.make_graph(
        nodes, f"derived_{name}",
        inputs=[helper.make_tensor_value_info("cat_codes", TensorProto.DOUBLE, ["N", n_cat]),
                helper.make_tensor_value_info("cont", TensorProto.DOUBLE, ["N", n_cont])],
        outputs=[helper.make_tensor_value_info(out, TensorProto.DOUBLE, ["N", len(feature_names(name))])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                                    helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def compute(name: str, X: np.ndarray, n_cat: int) -> np.ndarray:
    """Set ``name`` for learner-layout rows ``X`` (codes then floats), by onnxruntime (1 thread),
    i.e. the same computation, bit for bit, as inside the exported scenario graph."""
    X = np.asarray(X, dtype=np.float64)
    session = open_session(feature_model(name, n_cat, X.shape[1] - n_cat), 1, label=f"derived feature set {name}")
    return session.run(None, {"cat_codes": np.ascontiguousarray(X[:, :n_cat]),
                              "cont": np.ascontiguousarray(X[:, n_cat:])})[0]
