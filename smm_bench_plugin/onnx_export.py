"""LightGBM CV ensembles -> one float64 ``ai.onnx.ml`` TreeEnsemble (opset 5) graph.

Why our own converter: onnxmltools writes float32 thresholds, which misroutes rows that sit
near a split (errors up to 1.8e-2 measured); a float64 TreeEnsemble built directly from the
model text reproduces LightGBM to rounding (<= 1e-12) and needs no LightGBM at run time.

Graph layout (the scenario contract, see docs/ARCHITECTURE.md):
``x_cat`` int32 [N, n_cat] (YAHPO codes 1..K) -> float64 ``code - 1`` (the learner's
numeric codes 0..K-1); ``x_cont`` float64 [N, n_cont] -> clipped to its bounds; the
learner's feature vector is ``concat(cat codes, clipped cont)`` in this order. One
TreeEnsemble holds every fold of every target: leaf weights are divided by the fold count
so the SUM aggregate is the fold mean, target t's trees write to output column t. The
output [N, n_targets] float64 is then clipped per target (e.g. accuracies to [0, 1]).

Why one multi-target node and not one single-target node per target: onnxruntime's
single-target path is ~8% faster on a 3-target PS-sized ensemble (measured), but with more than
one intra-op thread and batches of >= 100 rows it splits the TREES across threads and sums
the partial scores in another order, so results change in the last bits with the thread count.
The multi-target node keeps small ensembles (the test scenarios) bit-identical for any thread
count and batch size (tests/test_reliability_concurrency.py); large ones (the bundled mini
surrogates, >1,000 trees) still change in the last bit with 2+ threads for some batch sizes,
so 1 intra-op thread (the runtime's default) is the bit-reproducible setting. A graph of ONE
target (a scenario's ``objective.onnx``) still uses a two-column node, the second column
without trees, and slices the first column out: the same code path as the full graph, so at
1 thread it reproduces the full graph's column bit for bit.

Categorical splits become BRANCH_MEMBER nodes; they are exact for integer-valued inputs,
which is all that ``x_cat`` can produce. ``onnx`` is imported lazily (extra ``[onnx]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .derived_features import add_nodes, feature_names
from .lgbm_text import MISSING_NAN, MISSING_NONE, MISSING_ZERO, TextModel
from .opsets import ONNX_ML_OPSET, ONNX_OPSET

__all__ = ["build_onnx"]
_LEQ, _LT, _MEMBER = 0, 1, 6


class _Nodes:
    """Accumulates the flat ``nodes_*`` / ``leaf_*`` attribute lists."""

    def __init__(self) -> None:
        self.feature: list[int] = []
        self.mode: list[int] = []
        self.split: list[float] = []
        self.true_id: list[int] = []
        self.true_leaf: list[int] = []
        self.false_id: list[int] = []
        self.false_leaf: list[int] = []
        self.missing_true: list[int] = []
        self.members: list[float] = []
        self.leaf_target: list[int] = []
        self.leaf_weight: list[float] = []
        self.roots: list[int] = []

    def add_tree(self, tree, target: int, scale: float, where: str) -> None:
        leaf0 = len(self.leaf_weight)
        self.leaf_target.extend([target] * tree.num_leaves)
        self.leaf_weight.extend(v / scale for v in tree.leaf_value)
        node0 = len(self.feature)
        self.roots.append(node0)
        if tree.num_leaves == 1:  # a constant tree: one node whose both branches hit the leaf
            self._append(0, _LEQ, 0.0, leaf0, 1, leaf0, 1, 0)
            return
        for i in range(tree.num_leaves - 1):
            left, right = tree.left_child[i], tree.right_child[i]
            t_id, t_leaf = (leaf0 + ~left, 1) if left < 0 else (node0 + left, 0)
            f_id, f_leaf = (leaf0 + ~right, 1) if right < 0 else (node0 + right, 0)
            dt = tree.decision_type[i]
            feat = tree.split_feature[i]
            if dt & 1:  # categorical: member -> left; NaN and negatives -> right
                cats = tree.categories(i)
                if cats:
                    self.members.extend(float(c) for c in cats)
                    self.members.append(math.nan)
                    self._append(feat, _MEMBER, 0.0, t_id, t_leaf, f_id, f_leaf, 0)
                else:  # empty set: always right (x < -inf is false, NaN too)
                    self._append(feat, _LT, -math.inf, t_id, t_leaf, f_id, f_leaf, 0)
                continue
            thr = tree.threshold[i]
            missing = (dt >> 2) & 3
            if missing == MISSING_NAN:
                nan_left = bool(dt & 2)
            elif missing == MISSING_NONE:
                nan_left = 0.0 <= thr  # LightGBM replaces NaN by 0.0 before comparing
            elif missing == MISSING_ZERO:
                raise NotImplementedError(
                    f"{where} node {i}: missing type 'Zero' (zero_as_missing=true) is not "
                    "supported; retrain with zero_as_missing=false"
                )
            else:
                raise ValueError(f"{where} node {i}: unknown missing type in decision_type={dt}")
            self._append(feat, _LEQ, thr, t_id, t_leaf, f_id, f_leaf, int(nan_left))

    def _append(self, feat, mode, split, t_id, t_leaf, f_id, f_leaf, miss) -> None:
        self.feature.append(feat)
        self.mode.append(mode)
        self.split.append(split)
        self.true_id.append(t_id)
        self.true_leaf.append(t_leaf)
        self.false_id.append(f_id)
        self.false_leaf.append(f_leaf)
        self.missing_true.append(miss)


def build_onnx(
    targets: Sequence[Sequence[TextModel]],
    *,
    n_cat: int,
    cont_lower: Sequence[float],
    cont_upper: Sequence[float],
    target_lower: Sequence[float],
    target_upper: Sequence[float],
    doc_string: str = "",
    derived: str | None = None,
) -> bytes:
    """Serialise one graph computing the clipped fold mean of every target.

    ``targets[t]`` holds the fold models of target t (all folds count equally). Each
    model's features must be ``n_cat`` categorical codes (0..K-1) then
    ``len(cont_lower)`` continuous columns, then the columns of the ``derived`` feature set
    (:mod:`smm_bench_plugin.derived_features`), which the graph computes from the first ones.
    Bounds may be +-inf (no clipping on that side).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_cont = len(cont_lower)
    n_derived = len(feature_names(derived))
    n_features = n_cat + n_cont + n_derived
    if not targets or any(not folds for folds in targets):
        raise ValueError("every target needs at least one fold model")
    if len(cont_upper) != n_cont or len(target_lower) != len(targets) or len(target_upper) != len(targets):
        raise ValueError("bounds do not match the number of columns / targets")
    nodes = _Nodes()
    for t, folds in enumerate(targets):
        for f, model in enumerate(folds):
            if model.num_features != n_features:
                raise ValueError(
                    f"target {t} fold {f} uses {model.num_features} features, the scenario has "
                    f"{n_features} ({n_cat} categorical + {n_cont} continuous + {n_derived} derived)"
                )
            scale = len(folds) * (model.num_iterations if model.average_output else 1)
            for k, tree in enumerate(model.trees):
                nodes.add_tree(tree, t, float(scale), f"target {t} fold {f} Tree={k}")

    def const(name: str, values, dtype) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)

    initializers = [
        const("cont_lower", cont_lower, np.float64),
        const("cont_upper", cont_upper, np.float64),
        const("target_lower", target_lower, np.float64),
        const("target_upper", target_upper, np.float64),
    ]
    graph_nodes = [
        helper.make_node("Max", ["x_cont", "cont_lower"], ["cont_lo"], name="clip_cont_lower"),
        helper.make_node("Min", ["cont_lo", "cont_upper"], ["cont_clipped"], name="clip_cont_upper"),
    ]
    columns = ["cont_clipped"]
    if n_cat:
        initializers.append(const("one", 1.0, np.float64))
        graph_nodes += [
            helper.make_node("Cast", ["x_cat"], ["cat_f"], to=TensorProto.DOUBLE, name="cat_to_double"),
            helper.make_node("Sub", ["cat_f", "one"], ["cat_codes"], name="yahpo_code_to_learner_code"),
        ]
        columns.insert(0, "cat_codes")
    if derived is not None:
        extra_nodes, extra_inits, derived_out = add_nodes(derived, "cat_codes", "cont_clipped", n_cat, n_cont)
        graph_nodes += extra_nodes
        initializers += extra_inits
        columns.append(derived_out)
    if len(columns) > 1:
        graph_nodes.append(helper.make_node("Concat", columns, ["features"], axis=1, name="features"))
        features = "features"
    else:
        features = "cont_clipped"
    n_columns = max(2, len(targets))  # never the single-target path: see the module docstring
    ens_kwargs = dict(
        n_targets=n_columns,
        aggregate_function=1,  # SUM
        post_transform=0,  # NONE
        tree_roots=nodes.roots,
        nodes_featureids=nodes.feature,
        nodes_modes=const("nodes_modes", nodes.mode, np.uint8),
        nodes_splits=const("nodes_splits", nodes.split, np.float64),
        nodes_truenodeids=nodes.true_id,
        nodes_trueleafs=nodes.true_leaf,
        nodes_falsenodeids=nodes.false_id,
        nodes_falseleafs=nodes.false_leaf,
        nodes_missing_value_tracks_true=nodes.missing_true,
        leaf_targetids=nodes.leaf_target,
        leaf_weights=const("leaf_weights", nodes.leaf_weight, np.float64),
    )
    if nodes.members:
        ens_kwargs["membership_values"] = const("membership_values", nodes.members, np.float64)
    graph_nodes.append(
        helper.make_node("TreeEnsemble", [features], ["raw"], domain="ai.onnx.ml", name="cv_mean", **ens_kwargs))
    raw = "raw"
    if n_columns > len(targets):
        initializers += [const("used_start", [0], np.int64), const("used_end", [len(targets)], np.int64),
                         const("column_axis", [1], np.int64)]
        graph_nodes.append(helper.make_node("Slice", ["raw", "used_start", "used_end", "column_axis"], ["raw_used"],
                                            name="drop_empty_column"))
        raw = "raw_used"
    graph_nodes += [
        helper.make_node("Max", [raw, "target_lower"], ["y_lo"], name="clip_target_lower"),
        helper.make_node("Min", ["y_lo", "target_upper"], ["y"], name="clip_target_upper"),
    ]
    graph = helper.make_graph(
        graph_nodes,
        "smm_bench_surrogate",
        inputs=[
            helper.make_tensor_value_info("x_cat", TensorProto.INT32, ["N", n_cat]),
            helper.make_tensor_value_info("x_cont", TensorProto.DOUBLE, ["N", n_cont]),
        ],
        outputs=[helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", len(targets)])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET)],
        producer_name="smm-bench-plugin",
        doc_string=doc_string,
    )
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model.SerializeToString()
