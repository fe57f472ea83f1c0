"""SMM-Bench scenarios as YAHPO Gym scenarios: ``register()`` then ``yahpo_gym.BenchmarkSet(name)``.

>>> from smm_bench_plugin import yahpo
>>> yahpo.register()                        # every installed scenario, e.g. ["smm_dfs_mini", "smm_ps_mini"]
>>> from yahpo_gym import BenchmarkSet
>>> b = BenchmarkSet("smm_ps_mini")
>>> b.objective_function(b.get_opt_space().sample_configuration())

yahpo-gym 1.0.2 pins ConfigSpace <= 0.6.1 and numpy < 2, so it lives in its own
environment (extra ``[yahpo]``); nothing else in this package imports it.

What YAHPO reads, and how we meet it (checked against yahpo_gym 1.0.2's BenchmarkSet):

* ``{basedir}/{config_id}/config_space.json`` (read with ConfigSpace 0.6.1's JSON reader — our
  files are in that format), ``encoding.json`` (ours is already YAHPO's form) and
  ``model.onnx``, fed by position: ``x_cat`` int32 [N, n_cat] (n_cat = 0 for PS: YAHPO then
  passes an int32 [N, 0] array, which our graphs accept) and ``x_cont`` **float32**.
  Our scenario graphs take float64, so ``register`` writes a YAHPO copy of each scenario
  under ``<data dir>/yahpo/<name>/`` whose graph starts with a ``Cast`` float32 -> float64;
  the rest of the graph (clipping, trees, mean) is unchanged and still outputs float64
  (YAHPO only zips the first output's rows with ``y_names``). Predictions therefore equal
  ``Benchmark.evaluate`` on the float32-rounded configuration, exactly. The copy is rebuilt
  only when the scenario's ``model_sha256`` changes (needs the ``onnx`` package).
* ``yahpo_gym.configuration.config_dict`` entries: no instances (``instance_names`` None),
  ``runtime_name`` = the scenario's ``cost`` target (seconds) if it has one, so
  ``objective_function_timed`` works exactly then. A single-fidelity scenario has no fidelity.
  A multi-fidelity one (``smm_ps_mini_mf``) has the fidelity as YAHPO users know it: ``n_items``
  is a hyperparameter of the YAHPO copy's ``config_space.json`` (an ordinal over the ladder),
  listed in ``fidelity_params`` and as the LAST of ``cont_names``, which is where our graph reads it
  (the last ``x_cont`` column); ``get_fidelity_space()`` returns it and
  ``get_opt_space(drop_fidelity_params=True)`` the merge space alone.
* ``yahpo_gym.local_config`` raises when ``~/.config/yahpo_gym`` (or ``$YAHPO_LOCAL_CONFIG``)
  is missing, even though our entries carry their own ``basedir``. We never write that file:
  when it is absent we set the in-memory configuration only (``data_path`` = our YAHPO
  basedir); when it exists we leave it and the user's own YAHPO scenarios alone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .kinds import benchmark_class
from .paths import data_dir, install_hint, resolve_scenario, scenario_entries

__all__ = ["register", "config_entry", "yahpo_basedir", "yahpo_graph"]

_CAST_NODE = "smm_yahpo_float32_input"


def yahpo_basedir() -> Path:
    """Where the YAHPO copies of our scenarios go: ``<data dir>/yahpo``."""
    return data_dir() / "yahpo"


def register(names: str | os.PathLike | Iterable[str | os.PathLike] | None = None, *,
             basedir: str | os.PathLike | None = None) -> list[str]:
    """Add scenarios (default: every installed one) to ``yahpo_gym.configuration.config_dict``.

    ``names`` is one scenario name or folder, or a list of them. Returns the registered YAHPO
    scenario names.
    """
    if isinstance(names, (str, os.PathLike)):
        names = [names]
    elif names is not None and (isinstance(names, (bytes, Mapping)) or not isinstance(names, Iterable)):
        raise TypeError(f"names must be a scenario name or folder, a list of them, or None, got {names!r}")
    if basedir is not None and not isinstance(basedir, (str, os.PathLike)):
        raise TypeError(f"basedir must be a folder (str or os.PathLike) or None, got {basedir!r}")
    _check_yahpo()
    from yahpo_gym.configuration import config_dict

    base = Path(basedir) if basedir is not None else yahpo_basedir()
    _ensure_local_config(base)
    folders = ([e.path for e in scenario_entries()] if names is None
               else [resolve_scenario(n) for n in names])
    registered = []
    for folder in folders:
        meta = benchmark_class(folder)(folder).meta  # verified (digests, files against the graph's contract) before YAHPO reads it
        _materialise(folder, meta, base / meta["name"])
        config_dict.update({meta["name"]: config_entry(meta, base)})
        registered.append(meta["name"])
    return registered


def config_entry(meta: dict[str, Any], basedir: str | os.PathLike) -> dict[str, Any]:
    """The ``config_dict`` entry of a scenario (``meta.json`` content) stored under ``basedir``."""
    cost = [t["name"] for t in meta["targets"] if t["role"] == "cost"]
    fidelity = [meta["fidelity"]["name"]] if meta.get("fidelity") else []
    return {
        "config_id": meta["name"],
        "basedir": str(basedir),
        "y_names": [t["name"] for t in meta["targets"]],
        "cont_names": list(meta["cont_names"]) + fidelity,  # the graph reads the fidelity as the last x_cont column
        "cat_names": list(meta["cat_names"]),
        "fidelity_params": fidelity,
        "instance_names": None,
        "instances": [],
        "runtime_name": cost[0] if cost else "",
        "memory_name": "",
        "drop_predict": [],
        "hierarchical": False,
        "citation": list(meta.get("citation", [])),
    }


def yahpo_graph(model_bytes: bytes) -> bytes:
    """Our scenario graph with a float32 ``x_cont`` input (Cast to float64 first), as YAHPO feeds."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    (x_cont,) = [i for i in graph.input if i.name == "x_cont"]
    if x_cont.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
        return model_bytes
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == "x_cont":
                node.input[k] = "x_cont_float64"
    graph.node.insert(0, onnx.helper.make_node("Cast", ["x_cont"], ["x_cont_float64"], name=_CAST_NODE,
                                               to=onnx.TensorProto.DOUBLE))
    x_cont.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _materialise(src: Path, meta: dict[str, Any], dst: Path) -> None:
    """Write (or keep, if current) the YAHPO copy of scenario ``src`` in ``dst``; atomic per folder."""
    stamp = {"source": str(src), "model_sha256": meta["model_sha256"]}
    if meta.get("fidelity"):
        stamp["fidelity"] = meta["fidelity"]
    try:
        if json.loads((dst / "smm_source.json").read_text()) == stamp:
            return
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    try:
        graph = yahpo_graph((src / "model.onnx").read_bytes())
    except ModuleNotFoundError as e:
        if e.name == "onnx":
            raise ModuleNotFoundError("registering scenarios with YAHPO Gym needs the 'onnx' package: " +
                                      install_hint("yahpo"), name="onnx") from None
        raise
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    try:
        (tmp / "model.onnx").write_bytes(graph)
        for name in ("config_space.json", "encoding.json"):
            shutil.copyfile(src / name, tmp / name)
        if meta.get("fidelity"):  # YAHPO reads a fidelity as a hyperparameter of the config space
            from .multifidelity import fidelity_space_doc

            doc = json.loads((src / "config_space.json").read_text())
            doc["hyperparameters"] = doc["hyperparameters"] + fidelity_space_doc(meta["fidelity"])["hyperparameters"]
            (tmp / "config_space.json").write_text(json.dumps(doc, indent=2) + "\n")
        (tmp / "smm_source.json").write_text(json.dumps(stamp) + "\n")
        old = None
        if dst.exists():
            old = dst.with_name(f".{dst.name}-old-{os.getpid()}")
            os.replace(dst, old)
        os.replace(tmp, dst)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ensure_local_config(base: Path) -> None:
    """Make ``yahpo_gym.local_config`` usable without touching the user's settings file."""
    from yahpo_gym.local_config import local_config

    if local_config._config is None and not local_config.settings_path.exists():
        local_config._config = {"data_path": str(base)}  # in memory only; the file stays absent


def _check_yahpo() -> None:
    try:
        import yahpo_gym
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"YAHPO Gym is not installed: {install_hint('yahpo')} in an "
                                  "environment of its own (yahpo-gym 1.0.2 needs ConfigSpace<=0.6.1, numpy<2)",
                                  name="yahpo_gym") from None
    import ConfigSpace

    if yahpo_gym.__version__ == "1.0.2" and int(ConfigSpace.__version__.split(".")[0]) >= 1:
        raise RuntimeError(f"yahpo-gym 1.0.2 does not work with ConfigSpace {ConfigSpace.__version__} (it calls "
                           "ConfigurationSpace._sort_hyperparameters, removed in 1.0); use an environment with "
                           "ConfigSpace<=0.6.1, as its own requirements state")
