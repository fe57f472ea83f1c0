"""``Benchmark``: one scenario, one onnxruntime session, validated inputs.

The other kinds of benchmark subclass it in modules of their own (multi-fidelity, table, live);
:func:`~smm_bench_plugin.kinds.load` picks the class, so this module imports none of them.

Only numpy and onnxruntime are needed to evaluate (ConfigSpace is built on first access of
``Benchmark.configspace``). The session uses 1 intra-op thread by default: optimiser
comparisons run many benchmarks in parallel processes, and single-config calls are
latency-bound, so extra threads only add contention. Sequential execution and
deterministic compute make repeated calls bit-identical.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import (
    Target,
    check_against_contract,
    check_full_contract,
    check_objective_contract,
    check_model,
    check_targets,
    contract_of,
    implied_full_contract,
    read_meta,
    read_space_doc,
    space_tables,
)
from .sessions import check_threads, open_session
from .validation import ConfigEncoder

__all__ = ["Benchmark"]


class Benchmark:
    """A surrogate benchmark: configurations in, predicted target values (plain floats) out.

    Loading verifies the scenario (see :mod:`smm_bench_plugin.scenario`): the graphs' sha256,
    then every JSON file against the contract the graph carries, so what is served is what was
    exported. Where the scenario ships ``objective.onnx``, only that graph is opened at load:
    ``model.onnx`` (every target) opens on the first call that needs it (``evaluate``, ``test``,
    ...), which then also checks that the two graphs agree on probe rows. An optimiser that calls
    :meth:`objective` alone pays neither the full graph's load time nor its memory.

    A Benchmark pickles and deep-copies as its folder and settings: the copy loads the scenario
    again and must find the same model (its sha256), so workers of multiprocessing, joblib or Ray
    get it by value.
    """

    #: x_cont columns the graph takes beyond the space's floats (a fidelity, in a subclass)
    _extra_cont_columns = 0

    def __init__(self, folder: str | os.PathLike, *, intra_op_threads: int = 1) -> None:
        if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder):
            raise TypeError(f"folder must be a scenario folder (str or os.PathLike), got {folder!r}")
        self._threads = check_threads(intra_op_threads)
        self.path = Path(folder)
        self.meta: dict[str, Any] = read_meta(self.path)
        if "fidelity" in self.meta and not self._extra_cont_columns:
            raise ValueError(f"{self.path} is a multi-fidelity scenario: open it with smm_bench_plugin.load() "
                             "(or MultiFidelityBenchmark)")
        model_path = check_model(self.path, "model.onnx", self.meta["model_sha256"])  # its session: when needed
        objective_path = self._objective_path()
        if objective_path is None:
            session, objective_session = open_session(model_path, intra_op_threads), None
            self._contract = contract_of(session, model_path)
        else:  # the JSON files are checked against the full contract objective.onnx's implies
            session, objective_session = None, open_session(objective_path, intra_op_threads)
            self._contract = implied_full_contract(contract_of(objective_session, objective_path))
        self.space_doc: dict[str, Any] = read_space_doc(self.path)
        check_against_contract(self.path, self._contract, self.meta, self.space_doc,
                               "model.onnx" if objective_path is None else "objective.onnx")
        try:
            cat_names, choices, cont_names, lower, upper = space_tables(self.space_doc)
        except ValueError as e:
            raise ValueError(f"{self.path / 'config_space.json'}: {e}") from None
        try:
            if not isinstance(self.meta["targets"], list):
                raise ValueError(f"'targets' must be a list, got {type(self.meta['targets']).__name__}")
            self.targets: tuple[Target, ...] = tuple(Target.from_json(t) for t in self.meta["targets"])
            check_targets(self.targets)
        except ValueError as e:
            raise ValueError(f"{self.path / 'meta.json'}: {e}") from None
        self.target_names: tuple[str, ...] = tuple(t.name for t in self.targets)
        roles = {t.role: i for i, t in enumerate(self.targets)}
        self._objective_col = roles["objective"]
        self._test_col = roles.get("test")
        self._encoder = ConfigEncoder(cat_names, choices, cont_names, lower, upper)
        self._configspace = None
        self._open_model(session, objective_session)

    def _open_model(self, session, objective_session) -> None:
        """The graphs that answer :meth:`evaluate` (another kind of benchmark answers otherwise).

        ``session`` is model.onnx (None until first needed when the scenario ships objective.onnx,
        whose session ``objective_session`` is), opened to read the contract every JSON file was
        checked against: each kind is held to the same files."""
        self._full_lock = threading.Lock()
        self._full_runner = None if session is None else self._checked_runner(session, "model.onnx",
                                                                              len(self.targets))
        self._objective_feed = None if objective_session is None else self._objective_runner(objective_session)

    def __reduce__(self):
        return _reopen, (type(self), str(self.path), self._threads, self.meta["model_sha256"])

    # ----- metadata -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def cat_names(self) -> tuple[str, ...]:
        return self._encoder.cat_names

    @property
    def cont_names(self) -> tuple[str, ...]:
        return self._encoder.cont_names

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return self.cat_names + self.cont_names

    @property
    def objective_name(self) -> str:
        return self.target_names[self._objective_col]

    @property
    def test_name(self) -> str | None:
        return None if self._test_col is None else self.target_names[self._test_col]

    @property
    def citation(self) -> list[str]:
        return list(self.meta.get("citation", []))

    @property
    def configspace(self):
        """The scenario's ``ConfigSpace.ConfigurationSpace`` (built on first access)."""
        if self._configspace is None:
            from .spaces import read_configspace

            self._configspace = read_configspace(json.dumps(self.space_doc))
        return self._configspace

    @property
    def fidelity_space(self):
        """The scenario's fidelity parameters as a ``ConfigSpace.ConfigurationSpace``: empty here
        (a single-fidelity scenario); see :class:`~smm_bench_plugin.multifidelity.MultiFidelityBenchmark`."""
        from ConfigSpace import ConfigurationSpace

        return ConfigurationSpace()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, {len(self.cat_names)} categorical + {len(self.cont_names)} "
                f"continuous hyperparameters, targets {list(self.target_names)})")

    # ----- evaluation ---------------------------------------------------------------------
    def evaluate(self, configs: Any) -> list[dict[str, float]]:
        """Predict every target for one configuration or a list of them.

        A configuration is a dict (or ``ConfigSpace.Configuration``) with every
        hyperparameter: floats within bounds, categorical choices as strings. Returns one
        ``{target name: float}`` dict per configuration.
        """
        if not isinstance(configs, (list, tuple)):
            configs = [configs]
        x_cat, x_cont = self._encoder.encode(configs)
        names = self.target_names
        return [dict(zip(names, row)) for row in self._run(x_cat, x_cont).tolist()]

    def evaluate_array(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        """Predict from arrays: ``x_cat`` integer [N, n_cat] YAHPO codes 1..K (column order
        ``cat_names``; code k is the k-th choice), ``x_cont`` float [N, n_cont] (order
        ``cont_names``). Returns float64 [N, n_targets] (column order ``target_names``)."""
        return self._run(*self._encoder.check_arrays(x_cat, x_cont))

    def objective(self, config: Any) -> float:
        """The optimisation target's prediction for one configuration (maximise it).

        Walks only the objective's trees when the scenario ships ``objective.onnx`` (the
        same numbers as ``evaluate``, bit for bit with one intra-op thread, the default, at a
        fraction of the cost; several threads may change the last bit)."""
        return float(self._objective_values(*self._encode_one(config))[0])

    def objective_array(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        """The objective alone for arrays laid out as in :meth:`evaluate_array`: float64 [N].

        For optimisers that need nothing else per call; equal to
        ``evaluate_array(...)[:, objective column]`` bit for bit with one intra-op thread."""
        return self._objective_values(*self._encoder.check_arrays(x_cat, x_cont))

    def test(self, config: Any) -> float:
        """The held-out test target's prediction for one configuration."""
        if self._test_col is None:
            raise ValueError(f"scenario {self.name!r} has no target with role 'test'")
        return self._single(config)[self._test_col]

    def encode(self, configs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validated (x_cat, x_cont) arrays for one configuration or a list of them (as in
        :meth:`evaluate`), as fed to the graph: one row per configuration."""
        if not isinstance(configs, (list, tuple)):
            configs = [configs]
        return self._encoder.encode(configs)

    def decode(self, x_cat: np.ndarray, x_cont: np.ndarray) -> list[dict[str, Any]]:
        """Configuration dicts from (x_cat, x_cont) arrays."""
        return self._encoder.decode(x_cat, x_cont)

    def _encode_one(self, config: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(config, (list, tuple)):
            raise TypeError("objective()/test() take one configuration; use evaluate() for batches")
        return self._encoder.encode((config,))

    def _single(self, config: Any) -> list[float]:
        return self._run(*self._encode_one(config))[0].tolist()

    def _run(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        return self._run_feed({"x_cat": x_cat, "x_cont": x_cont})

    def _run_feed(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """model.onnx on ``feed``: every target's column, the graph opened on first use."""
        run = self._full_runner
        if run is None:
            with self._full_lock:  # threads sharing a Benchmark open it once
                if self._full_runner is None:
                    self._full_runner = self._open_full_graph()
                run = self._full_runner
        return run(feed)

    def _objective_values(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        if self._objective_feed is None:
            return self._run(x_cat, x_cont)[:, self._objective_col]
        return self._objective_feed({"x_cat": x_cat, "x_cont": x_cont})[:, 0]

    def _checked_runner(self, session, filename: str, n_columns: int):
        """``feed -> [N, n_columns] array`` for a session whose graph follows the scenario contract."""
        inputs = session.get_inputs()
        names = [i.name for i in inputs]
        if names != ["x_cat", "x_cont"]:
            raise ValueError(f"{self.path}/{filename}: inputs must be x_cat, x_cont; got {names}")
        n_cont = len(self.cont_names) + self._extra_cont_columns
        for inp, kind, width in zip(inputs, ("tensor(int32)", "tensor(double)"), (len(self.cat_names), n_cont)):
            declared = inp.shape[-1] if inp.shape else None
            if inp.type != kind or (isinstance(declared, int) and declared != width):
                raise ValueError(f"{self.path}/{filename}: input {inp.name} is {inp.type} {inp.shape}, the scenario "
                                 f"needs {kind} [N, {width}] (a model of another space or format?)")
        outputs = session.get_outputs()
        width = outputs[0].shape[-1] if outputs[0].shape else None
        if isinstance(width, int) and width != n_columns:
            raise ValueError(f"{self.path}/{filename}: {width} output columns, the scenario needs {n_columns} "
                             f"(meta.json lists {len(self.targets)} targets)")
        names = [outputs[0].name]
        run = _fast_run(session, names, len(self.cat_names), n_cont)
        return lambda feed: run(names, feed)[0]

    def _objective_path(self) -> Path | None:
        """objective.onnx with its digest checked, or None if the scenario has none."""
        digest = self.meta.get("objective_model_sha256")
        if digest is None:
            return None
        path = self.path / "objective.onnx"
        if not path.exists():
            raise ValueError(f"{path}: missing, but meta.json lists objective_model_sha256; the scenario is incomplete")
        return check_model(self.path, "objective.onnx", digest)

    def _objective_runner(self, session):
        """The objective-only graph's runner; its contract must be model.onnx's with the objective
        as its one output."""
        path = self.path / "objective.onnx"
        check_objective_contract(path, contract_of(session, path), self._contract, self.objective_name)
        return self._checked_runner(session, "objective.onnx", 1)

    def _open_full_graph(self):
        """model.onnx's runner, opened after objective.onnx: its digest again (the file may have
        changed since load), its contract against the one objective.onnx implies, and on probe
        rows (the space's corners and centre) its objective column against objective.onnx: an
        objective that silently differs from ``evaluate`` would be worse than a slow one.
        Exactly with one intra-op thread; with more, onnxruntime may split a small batch's trees
        across threads and the two graphs (different tree counts) split differently, so the last
        bits may differ (<= 1e-12 is required)."""
        path = check_model(self.path, "model.onnx", self.meta["model_sha256"])
        session = open_session(path, self._threads)
        check_full_contract(path, contract_of(session, path), self._contract)
        run = self._checked_runner(session, "model.onnx", len(self.targets))
        if self._objective_feed is not None:
            feed = self._probe_feed()
            full = run(feed)[:, self._objective_col]
            alone = self._objective_feed(feed)[:, 0]
            tolerance = 0.0 if self._threads == 1 else 1e-12
            difference = float(np.abs(full - alone).max())
            if not difference <= tolerance:
                raise ValueError(f"{self.path / 'objective.onnx'}: disagrees with model.onnx's objective column on "
                                 f"probe rows (max difference {difference:.3g}); the scenario is inconsistent")
        return run

    def _probe_feed(self) -> dict[str, np.ndarray]:
        """Graph inputs for self-checks: the space's corners, centre and seeded random rows."""
        x_cat, x_cont = self._encoder.probe_rows()
        return {"x_cat": x_cat, "x_cont": x_cont}


def _reopen(cls: type[Benchmark], path: str, intra_op_threads: int, model_sha256: str) -> Benchmark:
    """A pickled or copied Benchmark: its scenario loaded again, which must be the same model."""
    bench = cls(path, intra_op_threads=intra_op_threads)
    if bench.meta["model_sha256"] != model_sha256:
        raise ValueError(f"{path}: the scenario changed since this Benchmark was pickled (model sha256 "
                         f"{model_sha256}, now {bench.meta['model_sha256']})")
    return bench


def _fast_run(session, outputs: list[str], n_cat: int, n_cont: int):
    """The session's ``run(output_names, feed)``, skipping the Python wrapper when that is safe.

    ``InferenceSession.run`` re-validates input names and ownership on every call (~3 us of a
    ~20 us single-config call); our inputs are already validated, so we call the bound C++
    ``run`` directly. It is private API: it is used only if it exists and returns exactly
    what the public path returns on a probe row, otherwise the public method is used.
    """
    public = session.run
    raw = getattr(getattr(session, "_sess", None), "run", None)
    if raw is None:
        return public
    feed = {"x_cat": np.ones((1, n_cat), dtype=np.int32), "x_cont": np.zeros((1, n_cont))}
    try:
        expected = public(outputs, feed)[0]
        got = raw(outputs, feed, None)[0]
    except Exception:  # noqa: BLE001 - any surprise: keep the public path
        return public
    if not isinstance(got, np.ndarray) or got.shape != expected.shape or not np.array_equal(got, expected,
                                                                                             equal_nan=True):
        return public
    return lambda names, feed: raw(names, feed, None)
