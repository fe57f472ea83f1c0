"""Compiled tree evaluators beside onnxruntime, on the bundled scenarios' own objective ensembles.

Why: ``Benchmark.objective`` spends most of a call in onnxruntime's tree walk (the rest is our
validation, 7-10 µs). A tree ensemble compiled to machine code per model (one nested
``if``/``else`` per tree) walks the same trees without an interpreter. This case measures whether
that is worth an optional backend: at least 3x faster at one row, parity with LightGBM at most
1e-12 on rows placed exactly on split thresholds, installable from the registry.

The models: the scenario's objective model is rebuilt with LightGBM from the scenario's own rows
(``provenance.rows_until``) and tuned parameters. Training is deterministic, and the rebuild must
reproduce ``objective.onnx`` to 1e-12 on the held-out rows, else the case stops: every path below
evaluates the very trees the scenario ships. They are cached in ``bench/.cache/compiled/`` by the
objective graph's digest.

The paths, on the learner features (derived columns included, as the trees see them):

* ``lightgbm``: ``Booster.predict`` per fold, mean (the reference of the parity columns);
* ``onnxruntime``: the scenario's own TreeEnsemble node alone, through the session's bound ``run``
  (what ``Benchmark`` calls);
* ``tl2cgen``: treelite 4 reads the LightGBM text, tl2cgen writes C, gcc compiles it; called through
  its ``predict`` symbol by ctypes (``tl2cgen.Predictor`` with a ``DMatrix`` for the public API);
* ``lleaves``: LLVM compiles the LightGBM text; called through its ``forest_root`` symbol
  (``Model.predict`` for the public API).

The fold models are joined into one model (their trees summed, then divided by the fold count),
as the ONNX graph holds them. Batch 1 cycles 256 distinct rows (one row repeated keeps its paths
in cache); every path is timed in turn, repeat by repeat (:func:`bench.timing.measure_many`).
The end-to-end row compares ``objective.onnx`` with what a backend would run: the graph's feature
nodes in onnxruntime, then the compiled trees.
"""

from __future__ import annotations

import ctypes
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .timing import measure_many

__all__ = ["compiled_evaluators", "GOAL_SPEEDUP", "GOAL_PARITY", "missing_packages"]

GOAL_SPEEDUP = 3.0  # at one row, against onnxruntime's tree walk, to be worth an optional backend
GOAL_PARITY = 1e-12
POOL = 256
PACKAGES = ("treelite", "tl2cgen", "lleaves", "llvmlite")


def missing_packages() -> list[str]:
    """The compilers this case needs that are not importable (install the ``bench-compiled`` extra)."""
    import importlib.util

    return [p for p in PACKAGES if importlib.util.find_spec(p) is None]


# ------------------------------------------------------------------------------ the models

def _repo() -> Path:
    return Path(__file__).resolve().parent.parent


def cache_folder(bench) -> Path:
    """``bench/.cache/compiled/<scenario>-<objective graph digest>``: one per shipped objective model."""
    from .models import CACHE_DIR

    meta = bench.meta
    return CACHE_DIR / "compiled" / f"{bench.name}-{(meta.get('objective_model_sha256') or meta['model_sha256'])[:16]}"


def rebuild_objective_model(bench, log=print) -> tuple[list[str], dict]:
    """The scenario's objective fold models as LightGBM model strings, rebuilt from its own rows.

    Returns ``(model strings, record)``; raises if the rebuild does not reproduce ``objective.onnx``."""
    from smm_bench_surrogates.select import truncate
    from smm_bench_surrogates.train import (cv_ensemble, learner_matrix, load_dataset, refit_ensemble,
                                            split)

    meta = bench.meta
    cache = cache_folder(bench)
    if (cache / "record.json").is_file():
        record = json.loads((cache / "record.json").read_text())
        return [(cache / f"fold{i}.txt").read_text() for i in range(record["folds"])], record
    prov, quality = meta["provenance"], meta["quality"]
    target = quality["targets"][bench.objective_name]
    derived = (prov.get("derived_features") or {}).get("set")
    seed = quality["split"]["seed"]
    t0 = time.perf_counter()
    log(f"  rebuilding {bench.name}'s objective model ({target['ensemble']}, {target['best_iteration']} rounds) "
        f"from {prov['dataset']} until {prov['rows_until']} ...")
    data = load_dataset(_repo() / prov["dataset"], meta["space"], prov["rows_until"])
    X = learner_matrix(data, derived)
    y = data.y["objective_acc"]
    train, test = split(len(X), seed)
    params = target["tuning"]["params"]
    if target["ensemble"] == "cv":
        cvb, _, _ = cv_ensemble(X[train], y[train], params, data.n_cat, seed)
        if target.get("truncated"):  # the rule shipped every fold's first best_iteration rounds
            cvb = truncate(cvb, int(target["best_iteration"]))
    else:
        cvb = refit_ensemble(X[train], y[train], params, data.n_cat, int(target["best_iteration"]))
    ref = np.array(cvb.predict(X[test])).mean(0).clip(0.0, 1.0)
    n_cat, n_cont = len(bench.cat_names), len(bench.cont_names)
    got = bench.objective_array((X[test, :n_cat] + 1).astype(np.int32), np.ascontiguousarray(X[test, n_cat:n_cat + n_cont]))
    err = float(np.abs(got - ref).max())
    if not err <= GOAL_PARITY:
        raise RuntimeError(f"{bench.name}: the rebuilt objective model differs from objective.onnx by {err:.3g}; "
                           "not the shipped trees (another LightGBM version or rows?)")
    strings = [b.model_to_string(num_iteration=cvb.best_iteration) for b in cvb.boosters]
    record = {"folds": len(strings), "ensemble": target["ensemble"], "rebuild_vs_onnx_max_abs_diff": err,
              "rebuild_seconds": round(time.perf_counter() - t0, 1), "held_out_rows": int(test.size)}
    cache.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(strings):
        (cache / f"fold{i}.txt").write_text(s)
    (cache / "record.json").write_text(json.dumps(record, indent=1))  # last: it marks the folder complete
    return strings, record


def joined_model_text(strings: list[str]) -> str:
    """One LightGBM model text holding every fold's trees (their sum; divide by the fold count).

    Why: lleaves compiles one model per call; five calls would pay its call overhead five times."""
    head = strings[0][:strings[0].index("\nTree=") + 1]
    blocks = []
    for s in strings:
        body = s[s.index("\nTree=") + 1:s.index("end of trees")]
        blocks += [b if b.endswith("\n\n") else b.rstrip("\n") + "\n\n" for b in re.split(r"(?m)^(?=Tree=)", body) if b.strip()]
    blocks = [re.sub(r"^Tree=\d+", f"Tree={i}", b) for i, b in enumerate(blocks)]
    head = re.sub(r"(?m)^tree_sizes=.*$", "tree_sizes=" + " ".join(str(len(b)) for b in blocks), head)
    return head + "".join(blocks) + strings[0][strings[0].index("end of trees"):]  # lleaves reads the trailer


def split_thresholds(strings: list[str]) -> dict[int, np.ndarray]:
    """Numerical split thresholds per feature, over every tree of every fold."""
    from smm_bench_plugin.lgbm_text import parse_model_string

    out: dict[int, set[float]] = {}
    for s in strings:
        for tree in parse_model_string(s).trees:
            for feat, thr, dt in zip(tree.split_feature, tree.threshold, tree.decision_type):
                if not dt & 1:
                    out.setdefault(feat, set()).add(thr)
    return {f: np.array(sorted(v)) for f, v in out.items()}


K_ZERO_THRESHOLD = 1.0000000180025095e-35  # LightGBM's kZeroThreshold


def on_thresholds(X: np.ndarray, thresholds: dict[int, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """``X`` with every split feature set to one of its thresholds (drawn per row): the rows where
    ``<=`` against ``<`` or a float32 threshold would route differently.

    A threshold of +-kZeroThreshold is LightGBM's split at zero, and its ``predict`` reads any
    |x| <= kZeroThreshold as 0.0 (the dense-row conversion drops such values), so those rows get
    0.0: the value that boundary stands for. (Every other evaluator here compares the tiny value
    itself, and would differ from LightGBM on it: no input of these spaces is that small without
    being 0.)"""
    X = X.copy()
    for f, thr in thresholds.items():
        X[:, f] = rng.choice(np.where(np.abs(thr) <= K_ZERO_THRESHOLD, 0.0, thr), size=len(X))
    return X


# --------------------------------------------------------------------------- the evaluators

def _graph_parts(bench):
    """(session of the feature nodes: (x_cat, x_cont) -> learner features, session of the TreeEnsemble alone)."""
    import onnx
    from onnx import TensorProto, helper

    from smm_bench_plugin.sessions import open_session

    model = onnx.load(str(Path(bench.path) / "objective.onnx"))
    nodes = list(model.graph.node)
    k = next(i for i, n in enumerate(nodes) if n.op_type == "TreeEnsemble")
    trees = nodes[k]
    width = None

    def make(graph_nodes, inputs, outputs, inits=()):
        g = helper.make_graph(graph_nodes, "part", inputs, outputs, initializer=list(inits))
        m = helper.make_model(g, opset_imports=list(model.opset_import))
        m.ir_version = model.ir_version
        return open_session(m.SerializeToString(), 1, label=f"{bench.name} objective.onnx part")

    features = make(nodes[:k], list(model.graph.input),
                    [helper.make_tensor_value_info(trees.input[0], TensorProto.DOUBLE, ["N", width])],
                    model.graph.initializer)
    walk = make([trees], [helper.make_tensor_value_info(trees.input[0], TensorProto.DOUBLE, ["N", width])],
                [helper.make_tensor_value_info(trees.output[0], TensorProto.DOUBLE, ["N", None])])
    return features, walk


def _bound_run(session):
    """``feed -> first output`` through the session's bound C++ ``run`` when present (as Benchmark does)."""
    out = [session.get_outputs()[0].name]
    raw = getattr(getattr(session, "_sess", None), "run", None)
    if raw is None:
        return lambda feed: session.run(out, feed)[0]
    return lambda feed: raw(out, feed, None)[0]


def _text_file(workdir: Path, text: str) -> Path:
    path = workdir / "joined.txt"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


COMPILE_TIMEOUT_S = 1800.0  # wall seconds a compiler may take on one model before the case gives up on it


class CompileTimeout(RuntimeError):
    """A compiler did not finish within ``COMPILE_TIMEOUT_S`` (the library would not serve a first load)."""


def _compiled_once(workdir: Path, name: str, code: str, timeout: float = COMPILE_TIMEOUT_S) -> float:
    """Run ``code`` (a compilation) in a child interpreter once; the seconds it took (cached in ``workdir``,
    beside the model it compiled). A child, so that a compiler running out of time can be stopped."""
    record, gave_up = workdir / f"{name}.seconds", workdir / f"{name}.timeout"
    if record.is_file():
        return float(record.read_text())
    if gave_up.is_file() and float(gave_up.read_text()) >= timeout:
        raise CompileTimeout(f"did not compile within {float(gave_up.read_text()):.0f} s")
    t0 = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        gave_up.write_text(f"{timeout:.0f}")
        raise CompileTimeout(f"did not compile within {timeout:.0f} s") from None
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{name} failed to compile: {e.stderr[-1500:]}") from None
    seconds = time.perf_counter() - t0
    record.write_text(f"{seconds:.1f}")
    return seconds


class Tl2cgenTrees:
    """treelite + tl2cgen: C code for the joined model, compiled by gcc into a shared library."""

    def __init__(self, text: str, workdir: Path, folds: int) -> None:
        import tl2cgen

        lib = workdir / "tl2cgen.so"
        self.compile_seconds = _compiled_once(workdir, "tl2cgen", (
            "import tl2cgen, treelite; tl2cgen.export_lib(treelite.frontend.load_lightgbm_model("
            f"{str(_text_file(workdir, text))!r}), toolchain='gcc', libpath={str(lib)!r}, "
            "params={'parallel_comp': 8}, nthread=1)"))
        self.predictor = tl2cgen.Predictor(str(lib), nthread=1)
        self._dmatrix = tl2cgen.DMatrix
        self._lib = ctypes.CDLL(str(lib))
        self._lib.predict.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self._lib.predict.restype = None
        self.folds = folds
        self._out = np.zeros(1)
        self._out_ptr = self._out.ctypes.data

    def pointer(self, row: np.ndarray) -> int:
        """The address of one contiguous float64 row (a union Entry is 8 bytes: a double, or the int -1
        in its low half for a missing value, which no finite input here is)."""
        return row.ctypes.data

    def raw_at(self, pointer: int) -> float:
        """The row at ``pointer`` through the library's ``predict``."""
        self._out[0] = 0.0
        self._lib.predict(pointer, 1, self._out_ptr)
        return self._out[0] / self.folds

    def raw_one(self, row: np.ndarray) -> float:
        return self.raw_at(self.pointer(row))

    def public(self, X: np.ndarray) -> np.ndarray:
        return self.predictor.predict(self._dmatrix(X)).reshape(len(X)) / self.folds


class LleavesTrees:
    """lleaves: LLVM compiles the joined LightGBM text into a shared library."""

    def __init__(self, text: str, workdir: Path, folds: int) -> None:
        import lleaves
        from lleaves.data_processing import ndarray_to_ptr

        path, lib = str(_text_file(workdir, text)), str(workdir / "lleaves.so")
        self.compile_seconds = _compiled_once(
            workdir, "lleaves", f"import lleaves; lleaves.Model(model_file={path!r}).compile(cache={lib!r})")
        self.model = lleaves.Model(model_file=path)
        self.model.compile(cache=lib)  # loads the library compiled above (lleaves' own cache)
        self._ptr = ndarray_to_ptr
        self._out = np.zeros(1)
        self._out_ptr = ndarray_to_ptr(self._out, use_fp64=True)
        self.folds = folds

    def pointer(self, row: np.ndarray):
        return self._ptr(row, use_fp64=True)

    def raw_at(self, pointer) -> float:
        """The row at ``pointer`` through the library's ``forest_root``."""
        self.model._c_entry_func(pointer, self._out_ptr, 0, 1)
        return self._out[0] / self.folds

    def raw_one(self, row: np.ndarray) -> float:
        return self.raw_at(self.pointer(row))

    def public(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(X, n_jobs=1) / self.folds


def compiled_evaluators(bench, *, batches: tuple[int, ...] = (1, 10_000), repeats: int = 7, min_time: float = 0.2,
                        log=print) -> dict:
    """Every path on the scenario's objective trees: seconds per call at each batch size, parity, compile time."""
    import lightgbm as lgb

    strings, record = rebuild_objective_model(bench, log=log)
    folds = len(strings)
    boosters = [lgb.Booster(model_str=s) for s in strings]
    features, walk = _graph_parts(bench)
    feat_run, walk_run = _bound_run(features), _bound_run(walk)
    in_name = walk.get_inputs()[0].name
    configs = [dict(c) for c in bench.configspace.sample_configuration(max(POOL, 1000))]
    x_cat, x_cont = bench.encode(configs)
    X = np.ascontiguousarray(feat_run({"x_cat": x_cat, "x_cont": x_cont}))
    work = cache_folder(bench) / "compiled"  # the libraries stay, with the seconds their compilation took
    for sub in ("tl2cgen", "lleaves"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    text = joined_model_text(strings)
    compiled, not_compiled = {}, {}
    for name, kind in (("tl2cgen", Tl2cgenTrees), ("lleaves", LleavesTrees)):
        try:
            compiled[name] = kind(text, work / name, folds)
        except CompileTimeout as e:
            not_compiled[name] = str(e)
            log(f"  [{bench.name}] {name} {e}")

    def lightgbm(A):
        return np.mean([b.predict(A, num_threads=1) for b in boosters], axis=0)

    def ort(A):
        return walk_run({in_name: A})[:, 0]

    # parity: data-like rows and rows placed exactly on thresholds, against LightGBM
    rng = np.random.default_rng(0)
    rows = {"sampled": X[:POOL], "on_thresholds": on_thresholds(X[:POOL], split_thresholds(strings), rng)}
    parity = {}
    for kind, A in rows.items():
        ref = lightgbm(A)
        values = {"onnxruntime": ort(A)}
        for name, ev in compiled.items():
            values[name] = np.array([ev.raw_one(np.ascontiguousarray(r)) for r in A])
            values[f"{name}_public"] = ev.public(A)
        parity[kind] = {name: float(np.abs(v - ref).max()) for name, v in values.items()}
    out = {"scenario": bench.name, "trees": sum(b.num_trees() for b in boosters), "folds": folds,
           "features": int(X.shape[1]), "model": record,
           "compile_seconds": {k: round(v.compile_seconds, 1) for k, v in compiled.items()},
           "not_compiled": not_compiled, "parity": parity, "batches": []}
    for n in batches:
        if n == 1:
            pool = [np.ascontiguousarray(X[i:i + 1]) for i in range(POOL)]
            nxt = _cycler(len(pool))
            paths = {"lightgbm": lambda: lightgbm(pool[nxt()]), "onnxruntime": lambda: ort(pool[nxt()])}
            for name, ev in compiled.items():
                at = [ev.pointer(r) for r in pool]
                paths[name] = lambda ev=ev, at=at: ev.raw_at(at[nxt()])
            for name, ev in compiled.items():
                paths[f"{name}_public"] = lambda ev=ev: ev.public(pool[nxt()])
        else:
            A = np.ascontiguousarray(X[rng.integers(0, len(X), n)])
            paths = {"lightgbm": lambda: lightgbm(A), "onnxruntime": lambda: ort(A),
                     **{name: (lambda ev=ev: ev.public(A)) for name, ev in compiled.items()}}
        t = measure_many(paths, repeats=repeats if n <= 10_000 else 3, min_time=min_time)
        row = {"rows": n, "seconds": {k: v.as_json() for k, v in t.items()},
               "speedup_vs_onnxruntime": {k: t["onnxruntime"].median / v.median for k, v in t.items()}}
        out["batches"].append(row)
        log(f"  [{bench.name}] {n:>6} rows: " + ", ".join(f"{k} {v.median * 1e6:.1f} µs" for k, v in t.items()))
    out["end_to_end"] = _end_to_end(bench, feat_run, compiled, x_cat, x_cont, repeats, min_time)
    log(f"  [{bench.name}] objective graph vs feature nodes + compiled trees: "
        + ", ".join(f"{k} {v:.1f} µs" for k, v in out["end_to_end"]["us"].items()))
    out["verdict"] = verdict(out)
    return out


def _cycler(n: int):
    state = [0]

    def nxt() -> int:
        state[0] = (state[0] + 1) % n
        return state[0]

    return nxt


def _end_to_end(bench, feat_run, compiled: dict, x_cat, x_cont, repeats: int, min_time: float) -> dict:
    """``objective.onnx`` at one encoded row against the graph's feature nodes + each compiled evaluator + clip."""
    lo, hi = next((t.lower, t.upper) for t in bench.targets if t.role == "objective")
    feeds = [{"x_cat": x_cat[i:i + 1], "x_cont": x_cont[i:i + 1]} for i in range(POOL)]
    nxt = _cycler(POOL)

    def onnx_objective(feed):
        return bench._objective_values(feed["x_cat"], feed["x_cont"])[0]

    buf = np.empty((1, feat_run(feeds[0]).shape[1]))  # a backend's row buffer: features land here, trees read it

    def chain(ev):
        at = ev.pointer(buf)

        def run(feed):
            np.copyto(buf, feat_run(feed))
            return min(max(ev.raw_at(at), lo), hi)

        return run

    chains = {f"features+{name}": chain(ev) for name, ev in compiled.items()}
    paths = {"objective.onnx": lambda: onnx_objective(feeds[nxt()]), "features_only": lambda: feat_run(feeds[nxt()]),
             **{k: (lambda run=run: run(feeds[nxt()])) for k, run in chains.items()}}
    t = measure_many(paths, repeats=repeats, min_time=min_time)
    ref = np.array([onnx_objective(f) for f in feeds])
    diff = {k: float(np.abs(np.array([run(f) for f in feeds]) - ref).max()) for k, run in chains.items()}
    return {"us": {k: v.median * 1e6 for k, v in t.items()}, "max_abs_diff_vs_objective_onnx": diff}


def verdict(res: dict) -> dict:
    """Does a compiled evaluator qualify for an optional backend? Per path, and why not.

    Two bars, both at one row with parity <= 1e-12: the trees alone against onnxruntime's walk of
    the same trees (the evaluator itself), and the call a backend would serve, ``objective.onnx``
    against its feature nodes in onnxruntime + the compiled trees (what a user would gain)."""
    one = next(b for b in res["batches"] if b["rows"] == 1)
    e2e = res["end_to_end"]["us"]
    out = {}
    for name, why in res.get("not_compiled", {}).items():
        out[name] = {"qualifies": False, "qualifies_trees": False, "why_not": [why]}
    for name in (n for n in ("tl2cgen", "lleaves") if n not in out):
        speedup = one["speedup_vs_onnxruntime"][name]
        call = e2e["objective.onnx"] / e2e[f"features+{name}"]
        parity = max(res["parity"][kind][name] for kind in res["parity"])
        reasons = []
        if speedup < GOAL_SPEEDUP:
            reasons.append(f"trees {speedup:.2f}x < {GOAL_SPEEDUP:.0f}x at 1 row")
        if call < GOAL_SPEEDUP:
            reasons.append(f"objective call {call:.2f}x < {GOAL_SPEEDUP:.0f}x (the feature nodes stay in onnxruntime)")
        if not parity <= GOAL_PARITY:
            reasons.append(f"parity {parity:.1e} > {GOAL_PARITY:.0e}")
        out[name] = {"speedup_1_row": speedup, "objective_call_speedup": call, "parity": parity,
                     "qualifies_trees": speedup >= GOAL_SPEEDUP and parity <= GOAL_PARITY,
                     "qualifies": not reasons, "why_not": reasons}
    return out
