"""The scenario folder format: ``model.onnx``, ``config_space.json``, ``encoding.json``, ``meta.json``.

One folder is everything a runtime (ours or YAHPO Gym's) needs. ``meta.json`` is ours:

``format_version`` (1), ``name``, ``space`` ("ps"/"dfs"/null), ``description``,
``targets`` (list of ``{name, role, lower, upper, direction, description}``; role is
``objective`` (the optimisation target, exactly one), ``test`` (held-out test target, at
most one) or ``cost`` (seconds, at most one); the ONNX output columns follow this order),
``cat_names`` / ``cont_names`` (ONNX column order of ``x_cat`` / ``x_cont``), ``citation``
(list of strings), ``provenance`` (where the data/model came from), ``quality`` (held-out
report or null), ``library_versions`` and ``model_sha256`` (checked at load so a swapped or
truncated model is caught before it silently serves wrong numbers).

Optional: ``objective.onnx``, the objective target alone (same inputs, output [N, 1]), with
``objective_model_sha256``. An optimiser asks for the objective thousands of times and
nothing else; this graph walks only the objective's trees, so ``Benchmark.objective`` costs a
fraction of the full graph. Its values equal the full graph's objective column bit for bit
(checked at load).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "ROLES", "Target", "read_meta", "sha256_file", "encoding_from_space", "check_encoding",
           "space_tables", "write_scenario", "library_versions"]

FORMAT_VERSION = 1
ROLES = ("objective", "test", "cost")
FILES = ("model.onnx", "config_space.json", "encoding.json", "meta.json")


@dataclass(frozen=True)
class Target:
    """One ONNX output column."""

    name: str
    role: str
    lower: float
    upper: float
    direction: str = "maximize"
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "lower": _num_out(self.lower),
                "upper": _num_out(self.upper), "direction": self.direction, "description": self.description}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Target:
        if not isinstance(d, Mapping):
            raise ValueError(f"a target must be a JSON object, got {d!r}")
        missing = [k for k in ("name", "role") if k not in d]
        if missing:
            raise ValueError(f"target {dict(d)!r} lacks key(s) {', '.join(map(repr, missing))}")
        try:
            lower, upper = _num_in(d.get("lower"), -math.inf), _num_in(d.get("upper"), math.inf)
        except (TypeError, ValueError):
            raise ValueError(f"target {d['name']!r}: lower/upper must be numbers or null, "
                             f"got {d.get('lower')!r}, {d.get('upper')!r}") from None
        if not lower <= upper:
            raise ValueError(f"target {d['name']!r}: lower {lower} > upper {upper}")
        return cls(str(d["name"]), str(d["role"]), lower, upper, str(d.get("direction", "maximize")),
                   str(d.get("description", "")))


def _num_out(v: float) -> float | None:
    return None if math.isinf(v) else float(v)


def _num_in(v: Any, default: float) -> float:
    return default if v is None else float(v)


def check_targets(targets: Sequence[Target]) -> None:
    roles = [t.role for t in targets]
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ValueError(f"unknown target role(s) {bad}; allowed: {', '.join(ROLES)}")
    if roles.count("objective") != 1 or roles.count("test") > 1 or roles.count("cost") > 1:
        raise ValueError(f"need exactly one 'objective' and at most one 'test' and one 'cost' target, got {roles}")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate target names: {names}")
    bad = [f"{t.name}: {t.direction!r}" for t in targets if t.direction not in ("maximize", "minimize")]
    if bad:
        raise ValueError(f"target direction must be 'maximize' or 'minimize', got {', '.join(bad)}")
    bad = [f"{t.name} ({t.role}): {t.direction!r}" for t in targets
           if t.role in ("objective", "test") and t.direction != "maximize"]
    if bad:  # compare and every adapter maximise these (HPOBench, carps: 1 - value), so say it at load
        raise ValueError(f"objective and test targets must be maximised (accuracies), got {', '.join(bad)}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_json_object(folder: Path, filename: str) -> dict[str, Any]:
    """One of the scenario's JSON files as a dict, with errors that name the file."""
    path = folder / filename
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not a scenario: {filename} is missing") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


META_REQUIRED = ("name", "space", "targets", "cat_names", "cont_names", "model_sha256")


def read_meta(folder: Path) -> dict[str, Any]:
    meta = _read_json_object(folder, "meta.json")
    meta_path = folder / "meta.json"
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: format_version {meta.get('format_version')!r}, this runtime reads {FORMAT_VERSION}")
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing key(s) {', '.join(missing)}")
    return meta


def read_space_doc(folder: Path) -> dict[str, Any]:
    """``config_space.json`` as a dict, with errors that name the file."""
    return _read_json_object(folder, "config_space.json")


def space_tables(space_doc: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[str], list[float], list[float]]:
    """(cat names, their choices, cont names, lower, upper) in ONNX column order (sorted names).

    Read straight from the 0.6.1-format JSON so loading a scenario does not need to build
    a ConfigSpace object; only flat spaces of floats and string categoricals are allowed.
    """
    if space_doc.get("conditions") or space_doc.get("forbiddens"):
        raise ValueError("scenario spaces must not have conditions or forbiddens")
    cats: dict[str, list[str]] = {}
    conts: dict[str, tuple[float, float]] = {}
    for hp in space_doc.get("hyperparameters", []):
        kind, name = hp.get("type"), hp.get("name")
        if kind == "uniform_float":
            conts[name] = _float_range(hp)
        elif kind == "categorical":
            if not isinstance(hp.get("choices"), list) or not hp["choices"]:
                raise ValueError(f"{name}: categorical hyperparameter needs a non-empty list 'choices'")
            choices = list(hp["choices"])
            if not all(isinstance(c, str) for c in choices):
                raise ValueError(f"{name}: categorical choices must be strings (YAHPO encoding), got {choices}")
            cats[name] = choices
        else:
            raise ValueError(f"{name}: hyperparameter type {kind!r} is not supported (uniform_float, categorical)")
    cat_names, cont_names = sorted(cats), sorted(conts)
    return (cat_names, [cats[n] for n in cat_names], cont_names,
            [conts[n][0] for n in cont_names], [conts[n][1] for n in cont_names])


def _float_range(hp: Mapping[str, Any]) -> tuple[float, float]:
    """A float hyperparameter's finite bounds, lower < upper (as ConfigSpace requires)."""
    name = hp.get("name")
    try:
        lower, upper = float(hp["lower"]), float(hp["upper"])
    except KeyError as e:
        raise ValueError(f"{name}: float hyperparameter lacks key {e.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name}: bounds must be numbers, got lower={hp.get('lower')!r}, "
                         f"upper={hp.get('upper')!r}") from None
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise ValueError(f"{name}: bounds must be finite with lower < upper, got [{lower}, {upper}]")
    return lower, upper


def encoding_from_space(space_doc: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """YAHPO ``encoding.json``: ``{hp: {"#na#": 0, choice: 1..K}}`` in choice order."""
    cat_names, choices, *_ = space_tables(space_doc)
    return {n: {"#na#": 0, **{c: i + 1 for i, c in enumerate(ch)}} for n, ch in zip(cat_names, choices)}


def check_encoding(folder: Path, space_doc: Mapping[str, Any]) -> None:
    """``encoding.json`` must be exactly what the space implies: YAHPO Gym reads categorical
    codes from it, so a missing or renumbered level would make YAHPO feed the graph wrong
    codes while our own runtime (which derives codes from the space) looked fine."""
    path = folder / "encoding.json"
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not a complete scenario: encoding.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    expected = encoding_from_space(space_doc)
    if found == expected:
        return
    if not isinstance(found, dict):
        raise ValueError(f"{path}: expected an object {{hyperparameter: {{level: code}}}}")
    for name in sorted(set(expected) | set(found)):
        want, got = expected.get(name), found.get(name)
        if want == got:
            continue
        if got is None:
            raise ValueError(f"{path}: hyperparameter {name} is missing (expected {want})")
        if want is None:
            raise ValueError(f"{path}: {name} is not a categorical hyperparameter of config_space.json")
        if not isinstance(got, dict):
            raise ValueError(f"{path}: {name} must map levels to codes, got {got!r}")
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        wrong = [k for k in want if k in got and got[k] != want[k]]
        raise ValueError(f"{path}: {name} " + "; ".join(
            part for part in (f"lacks level(s) {missing}" if missing else "",
                              f"has unknown level(s) {extra}" if extra else "",
                              f"numbers {wrong} differently" if wrong else "") if part)
            + f" (expected {want}, from config_space.json)")


def library_versions(*modules: str) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for m in modules:
        try:
            out[m] = metadata.version(m)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_scenario(
    folder: Path,
    *,
    name: str,
    model_bytes: bytes,
    space_doc: Mapping[str, Any],
    targets: Sequence[Target],
    space: str | None = None,
    description: str = "",
    citation: Sequence[str] = (),
    provenance: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    versions: Mapping[str, str] | None = None,
    objective_model_bytes: bytes | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write the four files (five with ``objective_model_bytes``) into ``folder`` (created;
    must not exist or be empty). ``extra_meta``: more ``meta.json`` entries (e.g. ``fidelity``)."""
    check_targets(targets)
    cat_names, _, cont_names, _, _ = space_tables(space_doc)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    (folder / "model.onnx").write_bytes(model_bytes)
    if objective_model_bytes is not None:
        (folder / "objective.onnx").write_bytes(objective_model_bytes)
    (folder / "config_space.json").write_text(json.dumps(space_doc, indent=2) + "\n")
    (folder / "encoding.json").write_text(json.dumps(encoding_from_space(space_doc), indent=2) + "\n")
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "space": space,
        "description": description,
        "targets": [t.to_json() for t in targets],
        "cat_names": cat_names,
        "cont_names": cont_names,
        "citation": list(citation),
        "provenance": dict(provenance or {}),
        "quality": dict(quality) if quality is not None else None,
        "library_versions": dict(versions if versions is not None else library_versions("smm-bench-plugin", "onnx")),
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
    }
    if objective_model_bytes is not None:
        meta["objective_model_sha256"] = hashlib.sha256(objective_model_bytes).hexdigest()
    if extra_meta:
        clash = sorted(set(extra_meta) & set(meta))
        if clash:
            raise ValueError(f"extra_meta must not replace meta.json's own keys {clash}")
        meta.update(extra_meta)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder
