"""The multi-fidelity scenario graph: tree ensembles over a configuration, read out at a rung.

A multi-fidelity scenario (``meta.json`` has a ``fidelity`` entry) scores a configuration on the
first ``n_items`` objective items of a fixed item order, ``n_items`` on a ladder of rungs (see
``smm_bench_collection.fidelity``). Its ``model.onnx`` takes ``x_cat`` as usual and ``x_cont``
with ONE more column than the space has floats: the last column is ``n_items`` (as YAHPO Gym
feeds a fidelity parameter). The graph computes, per row:

* ``mu``: the full-fidelity objective's trees, and ``delta_k``: per lower rung k, trees for the
  rung's systematic difference from the full set (``acc_k - acc_full``: the first k items are
  not exactly as hard as the whole set, and which ones a configuration gets right depends on it);
* the rung's item-sampling noise: a k-item prefix scatters around its mean like a mean of k
  right/wrong answers whose order is random, ``p(1-p)(1/k - 1/N)`` in variance, nested across
  rungs as prefixes are (a Brownian bridge over the items, evaluated at the rungs), times a
  per-rung scale fitted on the training rows (``noise_scale``). Without it a low rung would rank
  configurations almost as the full set does (the trees learn the mean), and multi-fidelity
  optimisers would look better on the surrogate than on the true benchmark. The noise is a
  deterministic function of the configuration (a hash of its values), so a call is repeatable;
* the output at rung k: ``round(k * clip(mu + delta_k + noise_k, 0, 1)) / k``, an accuracy a
  k-item evaluation can report; at the full rung ``clip(mu, 0, 1)`` (no delta, no noise);
* the test accuracy (the full test set at every rung) and the cost: the predicted seconds of a
  full evaluation times the rung's measured share (``cost_share``).

``n_items`` between two rungs reads as the lower rung (below the lowest: the lowest); the Python
API only accepts ladder values. Every operation is exact or correctly rounded IEEE arithmetic
(integer-valued products below 2**53, fmod, sqrt, sequential CumSum, element-wise adds in a
fixed order), so :func:`reference_outputs` reproduces the graph bit for bit from the trees' raw
predictions, at any batch size.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["bridge_noise", "reference_outputs", "splice_fidelity", "HASH_PRIME"]

HASH_PRIME = 2147483647.0  # 2**31 - 1
_QUANTUM = 2.0 ** 20  # a float hyperparameter's value is hashed at this resolution
_N_UNIFORMS = 4  # Irwin-Hall: each block's normal is a scaled sum of this many uniforms
_MIX = 48271.0  # MINSTD multiplier: h * _MIX < 2**47, exact


def _constants(count: int, seed: int, upper: int) -> np.ndarray:
    """``count`` integers in [1, upper) from a fixed linear congruential sequence: plain Python
    integer arithmetic, so they are the same on every platform and numpy version."""
    out, state = [], seed
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(1 + (state >> 33) % (upper - 1))
    return np.asarray(out, dtype=np.float64)


def _tables(n_columns: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column multipliers of the hash (< 2**31), and per-uniform multipliers (< 2**21) and offsets."""
    width = n_blocks * _N_UNIFORMS
    return (_constants(n_columns, 1, 1 << 31), _constants(width, 2, 1 << 21),
            _constants(width, 3, 1 << 31))


def _block_sizes(ladder: Sequence[int]) -> np.ndarray:
    return np.diff(np.concatenate([[0], np.asarray(ladder, dtype=np.float64)]))


def bridge_noise(x_cat: np.ndarray, x_cont: np.ndarray, lower: Sequence[float], upper: Sequence[float],
                 ladder: Sequence[int]) -> np.ndarray:
    """The unit-scale prefix deviation of every rung, float64 [N, len(ladder)] (last column 0).

    Column k is ``B(k) / k`` for a Brownian bridge B over the N items, pinned at 0 at item 0 and
    at item N, with one unit of variance per item: the deviation of a k-item prefix mean from
    the full mean when items are exchangeable and p(1-p) = 1. The bridge's increments come from a
    hash of the configuration (``x_cat`` YAHPO codes, ``x_cont`` clipped to its bounds and read at
    2**-20 resolution). numpy twin of the graph's nodes, operation for operation.
    """
    x_cont = np.minimum(np.maximum(np.asarray(x_cont, dtype=np.float64), lower), upper)
    q = np.concatenate([np.asarray(x_cat, dtype=np.float64), np.floor(x_cont * _QUANTUM)], axis=1)
    weights, mult, offset = _tables(q.shape[1], len(ladder))
    h = np.fmod(np.fmod(q * weights, HASH_PRIME).sum(axis=1, keepdims=True), HASH_PRIME)
    for _ in range(2):
        h = np.fmod(h * _MIX, HASH_PRIME)
    u = np.fmod(h * mult + offset, HASH_PRIME) / HASH_PRIME
    r = len(ladder)
    s = u[:, 0:r]
    for i in range(1, _N_UNIFORMS):
        s = s + u[:, i * r:(i + 1) * r]
    z = (s - _N_UNIFORMS / 2) * math.sqrt(12.0 / _N_UNIFORMS)
    w = np.cumsum(z * np.sqrt(_block_sizes(ladder)), axis=1)
    rungs = np.asarray(ladder, dtype=np.float64)
    return (w - w[:, -1:] * (rungs / rungs[-1])) / rungs


def rung_index(n_items: np.ndarray, ladder: Sequence[int]) -> np.ndarray:
    """The rung each ``n_items`` reads as (the largest rung not above it; the lowest below it)."""
    n = np.asarray(n_items, dtype=np.float64).reshape(-1, 1)
    return (n >= np.asarray(ladder[1:], dtype=np.float64)).sum(axis=1)


def reference_outputs(raw: np.ndarray, x_cat: np.ndarray, x_cont: np.ndarray, n_items: np.ndarray,
                      lower: Sequence[float], upper: Sequence[float], ladder: Sequence[int],
                      noise_scale: Sequence[float], cost_share: Sequence[float] | None) -> np.ndarray:
    """What the graph outputs, from the trees' raw predictions ``raw`` [N, columns] (``mu``, one
    ``delta`` per lower rung, then test and cost if ``cost_share`` is given): [N, 3] or [N, 1]."""
    r = len(ladder)
    j = rung_index(n_items, ladder)
    rows = np.arange(len(raw))
    mu = raw[:, 0:1]
    delta = np.concatenate([raw[:, 1:r], mu - mu], axis=1)[rows, j][:, None]
    p = np.minimum(np.maximum(mu, 0.0), 1.0)
    noise = (bridge_noise(x_cat, x_cont, lower, upper, ladder) * np.asarray(noise_scale, dtype=np.float64))[rows, j][:, None]
    noise = np.sqrt(p * (1.0 - p)) * noise
    k = np.asarray(ladder, dtype=np.float64)[j][:, None]
    value = np.minimum(np.maximum(mu + delta + noise, 0.0), 1.0)
    objective = np.where(k < ladder[-1], np.round(value * k) / k, p)
    if cost_share is None:
        return objective
    test = np.minimum(np.maximum(raw[:, r:r + 1], 0.0), 1.0)
    cost = np.maximum(raw[:, r + 1:r + 2], 0.0) * np.asarray(cost_share, dtype=np.float64)[j][:, None]
    return np.concatenate([objective, test, cost], axis=1)


def splice_fidelity(model_bytes: bytes, *, n_cat: int, lower: Sequence[float], upper: Sequence[float],
                    ladder: Sequence[int], noise_scale: Sequence[float],
                    cost_share: Sequence[float] | None) -> bytes:
    """Turn a tree graph from :func:`~smm_bench_plugin.onnx_export.build_onnx` (unclipped outputs:
    ``mu``, the deltas, then test and cost when ``cost_share`` is given) into the multi-fidelity
    graph: ``x_cont`` gains the ``n_items`` column and the output becomes [objective, test, cost]
    at that rung ([objective] without ``cost_share``). See the module docstring."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    n_cont = len(lower)
    r = len(ladder)
    if len(noise_scale) != r or (cost_share is not None and len(cost_share) != r):
        raise ValueError(f"noise_scale and cost_share need one value per rung ({r})")
    (x_cont,) = [i for i in graph.input if i.name == "x_cont"]
    for node in graph.node:
        node.input[:] = ["mf_x_config" if name == "x_cont" else name for name in node.input]
    (out,) = graph.output
    raw_name = out.name
    nodes, inits = [], []

    def const(name: str, values, dtype=np.float64) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), f"mf_{name}"))
        return f"mf_{name}"

    def node(op: str, inputs: list[str], name: str, **kw) -> str:
        nodes.append(helper.make_node(op, inputs, [f"mf_{name}"], name=f"mf_{name}", **kw))
        return f"mf_{name}"

    axis1 = const("axis1", [1], np.int64)

    def columns(x: str, start: int, end: int, name: str) -> str:
        return node("Slice", [x, const(f"{name}_s", [start], np.int64), const(f"{name}_e", [end], np.int64), axis1],
                    name)

    def clip(x: str, lo: str, hi: str, name: str) -> str:
        return node("Min", [node("Max", [x, lo], f"{name}_lo"), hi], name)

    zero, one = const("zero", 0.0), const("one", 1.0)
    graph.node.insert(0, helper.make_node("Slice", ["x_cont", const("cfg_s", [0], np.int64),
                                                    const("cfg_e", [n_cont], np.int64), axis1],
                                          ["mf_x_config"], name="mf_x_config"))
    fid = columns("x_cont", n_cont, n_cont + 1, "n_items")
    j = node("Cast", [node("ReduceSum", [node("Cast", [node("GreaterOrEqual", [fid, const("upper_rungs", list(ladder[1:]))],
                                                            "at_or_above")], "at_or_above_f", to=TensorProto.DOUBLE),
                                         axis1], "rung_f", keepdims=1)], "rung", to=TensorProto.INT64)

    # the bridge: hash -> uniforms -> Irwin-Hall normals -> increments -> bridge / k (see bridge_noise)
    weights, mult, offset = _tables(n_cat + n_cont, r)
    cont = node("Floor", [node("Mul", [clip("mf_x_config", const("lower", lower), const("upper", upper), "cfg_clip"),
                                       const("quantum", _QUANTUM)], "cfg_scaled")], "cfg_q")
    q = node("Concat", [node("Cast", ["x_cat"], "cat_f", to=TensorProto.DOUBLE), cont], "q", axis=1) if n_cat else cont
    prime = const("prime", HASH_PRIME)
    h = node("Mod", [node("ReduceSum", [node("Mod", [node("Mul", [q, const("weights", weights[None, :])], "qw"), prime],
                                              "qw_mod", fmod=1), axis1], "h_sum", keepdims=1), prime], "h0", fmod=1)
    for i in range(2):
        h = node("Mod", [node("Mul", [h, const("mix", _MIX) if i == 0 else "mf_mix"], f"h_mul{i}"), prime], f"h{i + 1}",
                 fmod=1)
    u = node("Div", [node("Mod", [node("Add", [node("Mul", [h, const("mult", mult[None, :])], "hm"),
                                               const("offset", offset[None, :])], "hmo"), prime], "u_int", fmod=1),
                     prime], "u")
    s = columns(u, 0, r, "u0")
    for i in range(1, _N_UNIFORMS):
        s = node("Add", [s, columns(u, i * r, (i + 1) * r, f"u{i}")], f"s{i}")
    z = node("Mul", [node("Sub", [s, const("half_n", _N_UNIFORMS / 2)], "s_c"), const("z_scale", math.sqrt(12.0 / _N_UNIFORMS))],
             "z")
    w = node("CumSum", [node("Mul", [z, const("block_sd", np.sqrt(_block_sizes(ladder))[None, :])], "incr"),
                        const("axis1_scalar", 1, np.int64)], "w")
    rungs = np.asarray(ladder, dtype=np.float64)[None, :]
    bridge = node("Div", [node("Sub", [w, node("Mul", [columns(w, r - 1, r, "w_end"), const("fraction", rungs / rungs[0, -1])],
                                               "w_pin")], "w_bridge"), const("rungs", rungs)], "bridge")
    noise_all = node("Mul", [bridge, const("noise_scale", np.asarray(noise_scale, dtype=np.float64)[None, :])], "noise_all")

    mu = columns(raw_name, 0, 1, "mu")
    deltas = node("Concat", [columns(raw_name, 1, r, "deltas"), node("Sub", [mu, mu], "zero_col")], "delta_all", axis=1)
    delta = node("GatherElements", [deltas, j], "delta", axis=1)
    p = clip(mu, zero, one, "p")
    noise = node("Mul", [node("Sqrt", [node("Mul", [p, node("Sub", [one, p], "q_p")], "pq")], "sd"),
                         node("GatherElements", [noise_all, j], "noise_unit", axis=1)], "noise")
    value = clip(node("Add", [node("Add", [mu, delta], "mean"), noise], "noisy"), zero, one, "value")
    k = node("Gather", [const("ladder", list(ladder)), j], "k", axis=0)
    rounded = node("Div", [node("Round", [node("Mul", [value, k], "value_k")], "count"), k], "on_grid")
    objective = node("Where", [node("Less", [k, const("top", float(ladder[-1]))], "below_top"), rounded, p], "objective")
    outputs = [objective]
    if cost_share is not None:
        test = clip(columns(raw_name, r, r + 1, "test_raw"), zero, one, "test")
        cost = node("Mul", [node("Max", [columns(raw_name, r + 1, r + 2, "cost_raw"), zero], "cost_pos"),
                            node("Gather", [const("cost_share", list(cost_share)), j], "share", axis=0)], "cost")
        outputs += [test, cost]
    y = node("Concat", outputs, "y", axis=1) if len(outputs) > 1 else node("Identity", outputs, "y")
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    x_cont.type.tensor_type.shape.dim[1].dim_value = n_cont + 1
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(y, TensorProto.DOUBLE, ["N", len(outputs)]))
    onnx.checker.check_model(model)
    return model.SerializeToString()
