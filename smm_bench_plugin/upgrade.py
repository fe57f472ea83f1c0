"""Bring a scenario folder to the current format in place, without retraining.

Format 1 -> 2 stamps each graph's contract (space, input columns, targets, its output columns:
see :mod:`smm_bench_plugin.scenario`) into its ONNX metadata and records the new sha256 and
format in meta.json. The trees are not touched. Before anything is written the upgrade
checks that it vouches for files that are still what was exported, as far as a format-1
folder lets anyone tell:

* the graphs' sha256 are meta.json's (what the format-1 runtime checked);
* the numbers the graph itself holds agree with the JSON files: its input clipping bounds
  with config_space.json, its output clipping bounds with meta.json's targets, its input and
  output widths with the names; for a multi-fidelity graph (whose outputs are clipped by its
  rung read-out, not by the targets' bounds) its ladder, noise scales and cost shares with
  meta.json's ``fidelity``;
* a scenario of a named space ("ps", "dfs") has exactly that space's config_space.json, so
  renamed or reordered choices are caught too (target names cannot be checked: a format-1
  graph does not know them);
* the upgraded graphs give bit-identical predictions on the space's corners, centre and
  ``check_rows`` seeded random rows (each at a rung of the ladder in turn, multi-fidelity).

A kill at any moment is safe: the new files are written next to the old ones first and
moved in with meta.json last; running the command again finishes (or restarts) the job.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import (
    FORMAT_VERSION,
    Target,
    check_encoding,
    check_targets,
    first_difference,
    graph_contract,
    read_meta,
    read_model,
    read_space_doc,
    space_tables,
    stamp_contract,
)
from .sessions import open_session
from .validation import ConfigEncoder

__all__ = ["Upgrade", "upgrade_scenario"]

_SUFFIX = ".upgrade"
_GRAPHS = ("model.onnx", "objective.onnx")


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade_scenario` did to one folder."""

    folder: Path
    from_version: int
    to_version: int
    rows_checked: int  # rows on which every upgraded graph reproduced the old one bit for bit (0: nothing to do)
    sha256: dict[str, tuple[str, str]]  # graph file -> (old, new)


def upgrade_scenario(folder: str | os.PathLike, *, check_rows: int = 10_000) -> Upgrade:
    """Upgrade scenario ``folder`` in place (see the module docstring); a current one is only verified."""
    if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder):
        raise TypeError(f"folder must be a scenario folder (str or os.PathLike), got {folder!r}")
    if isinstance(check_rows, bool) or not isinstance(check_rows, int) or check_rows < 1:
        raise ValueError(f"check_rows must be a positive integer, got {check_rows!r}")
    try:
        import onnx  # noqa: F401 - stamping the contract rewrites the graphs' metadata
    except ModuleNotFoundError:
        raise ModuleNotFoundError("upgrading a scenario needs the 'onnx' package: pip install "
                                  "'smm-bench-plugin[onnx]'", name="onnx") from None
    folder = Path(folder)
    _finish_interrupted(folder)
    meta = read_meta(folder, accept=(1, FORMAT_VERSION))
    from .kinds import benchmark_class  # a current folder, or the upgraded one, must load under the current checks

    if meta["format_version"] == FORMAT_VERSION:
        benchmark_class(folder)(folder)
        return Upgrade(folder, FORMAT_VERSION, FORMAT_VERSION, 0, {})
    space_doc = read_space_doc(folder)
    try:
        cat_names, choices, cont_names, lower, upper = space_tables(space_doc)
    except ValueError as e:
        raise ValueError(f"{folder / 'config_space.json'}: {e}") from None
    _check_named_space(folder, meta.get("space"), space_doc)
    if [cat_names, cont_names] != [meta.get("cat_names"), meta.get("cont_names")]:
        raise ValueError(f"{folder}: config_space.json and meta.json disagree on the hyperparameter names")
    try:
        targets = tuple(Target.from_json(t) for t in meta["targets"])
        check_targets(targets)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{folder / 'meta.json'}: {e}") from None
    check_encoding(folder, space_doc)
    fidelity = _fidelity(folder, meta)
    encoder = ConfigEncoder(cat_names, choices, cont_names, lower, upper)
    objective = [t.name for t in targets if t.role == "objective"]
    outputs = {"model.onnx": [t.name for t in targets], "objective.onnx": objective}
    digests = {"model.onnx": meta["model_sha256"], "objective.onnx": meta.get("objective_model_sha256")}
    new_bytes, sha = {}, {}
    x_cat, x_cont = encoder.probe_rows(n_random=check_rows)
    if fidelity is not None:  # the graph's last x_cont column: every rung in turn
        rungs = np.resize(np.asarray(fidelity["ladder"], dtype=np.float64), len(x_cont))
        x_cont = np.concatenate([x_cont, rungs[:, None]], axis=1)
    for name in _GRAPHS:
        if digests[name] is None:
            continue
        old = read_model(folder, name, digests[name])
        columns = [t for t in targets if t.name in outputs[name]]
        _check_graph_constants(folder / name, old, encoder, columns, fidelity)
        new = stamp_contract(old, graph_contract(space_doc, targets, outputs[name], meta.get("space"), fidelity))
        _check_same_predictions(folder / name, old, new, x_cat, x_cont)
        new_bytes[name] = new
        sha[name] = (digests[name], hashlib.sha256(new).hexdigest())
    upgraded = {**meta, "format_version": FORMAT_VERSION, "model_sha256": sha["model.onnx"][1]}
    if "objective.onnx" in sha:
        upgraded["objective_model_sha256"] = sha["objective.onnx"][1]
    for name, data in new_bytes.items():
        _write_synced(folder / (name + _SUFFIX), data)
    _write_synced(folder / ("meta.json" + _SUFFIX), (json.dumps(upgraded, indent=2) + "\n").encode())
    _finish_interrupted(folder)
    benchmark_class(folder)(folder)
    return Upgrade(folder, 1, FORMAT_VERSION, len(x_cont), sha)


def _check_named_space(folder: Path, space: Any, space_doc: dict[str, Any]) -> None:
    from .spaces import SPACES, space_json

    if space not in SPACES:
        return
    found = first_difference(space_json(space), space_doc)
    if found:
        where, want, got = found
        raise ValueError(f"{folder / 'config_space.json'}: {where} is {json.dumps(got)}, but space {space!r} has "
                         f"{json.dumps(want)}; the file was edited, so the upgrade cannot vouch for it (re-import or "
                         "re-train the scenario instead)")


def _initializers(data: bytes) -> tuple[Any, dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    return model, {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _fidelity(folder: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """meta.json's ``fidelity`` entry (None for a single-fidelity scenario), checked for the keys the graph holds."""
    if "fidelity" not in meta:
        return None
    fidelity = meta["fidelity"]
    keys = ("name", "ladder", "noise_scale", "cost_share")
    if not isinstance(fidelity, dict) or any(not fidelity.get(k) for k in keys):
        raise ValueError(f"{folder / 'meta.json'}: 'fidelity' must be an object with non-empty "
                         f"{', '.join(keys)}, got {json.dumps(fidelity)[:200]}")
    return fidelity


def _check_graph_constants(path: Path, data: bytes, encoder: ConfigEncoder, targets: list[Target],
                           fidelity: dict[str, Any] | None) -> None:
    """The bounds, rungs and widths compiled into the graph must be those the JSON files state."""
    model, consts = _initializers(data)
    want = {"cont_lower": encoder.lower, "cont_upper": encoder.upper}
    if fidelity is None:
        want.update({"target_lower": np.array([t.lower for t in targets]),
                     "target_upper": np.array([t.upper for t in targets])})
    else:
        want.update({"mf_lower": encoder.lower, "mf_upper": encoder.upper,
                     "mf_ladder": np.asarray(fidelity["ladder"], dtype=np.float64),
                     "mf_noise_scale": np.asarray(fidelity["noise_scale"], dtype=np.float64)})
        if len(targets) > 1:  # the objective-only graph has no cost column
            want["mf_cost_share"] = np.asarray(fidelity["cost_share"], dtype=np.float64)
    for key, values in want.items():
        if key not in consts:
            raise ValueError(f"{path}: the graph has no {key!r} constant; it was not written by smm-bench's "
                             "exporter, so the upgrade cannot check it against the JSON files")
        found = np.asarray(consts[key], dtype=np.float64).ravel()
        if found.shape != values.shape or not np.array_equal(found, values):
            on_space = key.startswith("cont") or key in ("mf_lower", "mf_upper")
            file = "config_space.json" if on_space else "meta.json"
            names = (encoder.cont_names if on_space else [t.name for t in targets] if key.startswith("target")
                     else [f"fidelity.{key[3:]}[{i}]" for i in range(len(values))])
            bad = next((i for i, (a, b) in enumerate(zip(found, values)) if a != b), None)
            detail = (f"{names[bad]}: {values[bad]} in {file}, {found[bad]} in the graph" if bad is not None
                      else f"{len(values)} values in {file}, {len(found)} in the graph")
            raise ValueError(f"{path}: {key} differs from {file} ({detail}); the file was edited after export")
    widths = {i.name: i.type.tensor_type.shape.dim[-1].dim_value for i in model.graph.input}
    n_cont = len(encoder.cont_names) + (fidelity is not None)
    if widths != {"x_cat": len(encoder.cat_names), "x_cont": n_cont}:
        raise ValueError(f"{path}: input widths {widths} do not match config_space.json "
                         f"({len(encoder.cat_names)} categorical, {len(encoder.cont_names)} continuous"
                         f"{' + the fidelity' if fidelity is not None else ''})")


def _check_same_predictions(path: Path, old: bytes, new: bytes, x_cat: np.ndarray, x_cont: np.ndarray) -> None:
    feed = {"x_cat": x_cat, "x_cont": x_cont}
    before = open_session(old, label=str(path)).run(None, feed)[0]
    after = open_session(new, label=str(path)).run(None, feed)[0]
    if before.shape != after.shape or before.tobytes() != after.tobytes():
        raise RuntimeError(f"{path}: the upgraded graph does not reproduce the old one bit for bit; nothing was "
                           "written")


def _write_synced(path: Path, data: bytes) -> None:
    """``path`` appears complete or not at all."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _finish_interrupted(folder: Path) -> None:
    """Complete an upgrade whose files were all written (meta.json's is the last), else drop its files."""
    pending = [folder / (name + _SUFFIX) for name in (*_GRAPHS, "meta.json")]
    for p in pending:
        p.with_name(p.name + ".tmp").unlink(missing_ok=True)
    if not any(p.exists() for p in pending):
        return
    if not pending[-1].exists():  # killed while writing: the old files are all still in place
        for p in pending:
            p.unlink(missing_ok=True)
        return
    for p in pending:  # meta.json last: until it moves, the old meta.json still describes the old graphs
        if p.exists():
            os.replace(p, p.with_name(p.name[:-len(_SUFFIX)]))
