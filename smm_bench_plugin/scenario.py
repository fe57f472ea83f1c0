"""The scenario folder format: ``model.onnx``, ``config_space.json``, ``encoding.json``, ``meta.json``.

One folder is everything a runtime (ours or YAHPO Gym's) needs. ``meta.json`` is ours:

``format_version`` (2), ``name``, ``space`` ("ps"/"dfs"/null), ``description``,
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

The integrity record. A number is only as trustworthy as every file that shapes it: the
graphs, the space (bounds and choice order decide the codes and the input clipping), the
encoding YAHPO Gym feeds, and the target names and column order that label the outputs. So
each graph carries, in its ONNX metadata under :data:`CONTRACT_KEY`, the *contract* it was
built for: the space document, the input column names, every target, the names of its own
output columns and a multi-fidelity scenario's ``fidelity`` entry (:func:`graph_contract`).
The sha256 in meta.json pins the graph bytes, contract included; at load every JSON file must then agree with the graph's contract field
by field (:func:`check_against_contract`), so a hand edit of any of them is refused with a
message naming the file and the field, and a bit flip in a graph is a digest mismatch. meta.json
fields that never reach a number (description, citation, provenance, quality: training adds
its export check to ``quality`` after writing) are not part of the contract and may change.
Format 1 folders (written before the contract existed) are refused with the command that
upgrades them in place, predictions unchanged (:mod:`smm_bench_plugin.upgrade`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import MAX_JSON_BYTES, MAX_ONNX_BYTES, read_bytes, read_json, sha256_of

__all__ = ["FORMAT_VERSION", "ROLES", "CONTRACT_KEY", "UPGRADE_HINT", "CITATIONS", "Target", "read_meta", "encoding_from_space",
           "check_encoding", "space_tables", "write_scenario", "library_versions", "graph_contract", "stamp_contract",
           "check_model", "read_model", "contract_of", "check_against_contract", "check_objective_contract",
           "implied_full_contract", "check_full_contract",
           "first_difference"]

FORMAT_VERSION = 2
ROLES = ("objective", "test", "cost")
FILES = ("model.onnx", "config_space.json", "encoding.json", "meta.json")
#: ONNX metadata key of a graph's contract (a JSON document, see the module docstring).
CONTRACT_KEY = "smm_bench.scenario"
#: How to bring a format-1 folder up to date: no retraining, predictions unchanged.
UPGRADE_HINT = ("smm-bench upgrade-scenario {folder} (needs pip install 'smm-bench-plugin[onnx]'; predictions stay "
                "bit-identical)")
#: What a scenario of the SMM spaces cites (``meta.json`` ``citation``, HPOBench's meta information).
CITATIONS = (
    "Akizuki et al. (2025). Surrogate Benchmarks for Model Merging Optimization. arXiv:2509.02555.",
    "Akiba, Shing, Tang, Sun, Ha (2025). Evolutionary optimization of model merging recipes. "
    "Nature Machine Intelligence 7, 195-204. arXiv:2403.13187.",
)


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


def check_model(folder: Path, filename: str, digest: Any) -> Path:
    """The path of a graph whose sha256 is ``digest`` (meta.json's record of it).

    Hashed in chunks and then loaded by onnxruntime from the path: holding the bytes in
    Python for the session would add twice the model's size to the load's peak memory."""
    _check_digest(folder, filename, lambda path: sha256_of(path, MAX_ONNX_BYTES), digest)
    return folder / filename


def read_model(folder: Path, filename: str, digest: Any) -> bytes:
    """A graph's bytes, which must hash to ``digest`` (for tools that rewrite the graph)."""
    data: list[bytes] = []

    def digest_of(path: Path) -> str:
        data.append(read_bytes(path, MAX_ONNX_BYTES))
        return hashlib.sha256(data[0]).hexdigest()

    _check_digest(folder, filename, digest_of, digest)
    return data[0]


def _check_digest(folder: Path, filename: str, digest_of, digest: Any) -> None:
    path = folder / filename
    try:
        found = digest_of(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not a complete scenario: {filename} is missing") from None
    if found != digest:
        key = "model_sha256" if filename == "model.onnx" else "objective_model_sha256"
        raise ValueError(f"{path}: sha256 {found} does not match meta.json {key} {digest}; "
                         "the scenario is corrupt or was modified")


def _read_json_object(folder: Path, filename: str) -> dict[str, Any]:
    """One of the scenario's JSON files as a dict, with errors that name the file."""
    path = folder / filename
    try:
        doc = read_json(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not a scenario: {filename} is missing") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


META_REQUIRED = ("name", "space", "targets", "cat_names", "cont_names", "model_sha256")


def read_meta(folder: Path, *, accept: tuple[int, ...] = (FORMAT_VERSION,)) -> dict[str, Any]:
    """meta.json, whose ``format_version`` must be one of ``accept`` (format 1 gets the upgrade command)."""
    meta = _read_json_object(folder, "meta.json")
    meta_path = folder / "meta.json"
    version = meta.get("format_version")
    if version not in accept:
        if version == 1:
            raise ValueError(f"{meta_path}: format_version 1 has no integrity record (edits to config_space.json, "
                             f"encoding.json or meta.json would go unnoticed); upgrade it in place with: "
                             + UPGRADE_HINT.format(folder=folder))
        raise ValueError(f"{meta_path}: format_version {version!r}, this runtime reads {FORMAT_VERSION}")
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
    hyperparameters = space_doc.get("hyperparameters", [])
    if not isinstance(hyperparameters, list):
        raise ValueError(f"'hyperparameters' must be a list, got {type(hyperparameters).__name__}")
    for i, hp in enumerate(hyperparameters):
        if not isinstance(hp, Mapping):
            raise ValueError(f"hyperparameters[{i}] must be an object, got {hp!r}")
        kind, name = hp.get("type"), hp.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"hyperparameters[{i}] has no 'name' (a non-empty string), got {name!r}")
        if name in cats or name in conts:
            raise ValueError(f"hyperparameter {name!r} is defined twice")
        if kind == "uniform_float":
            conts[name] = _float_range(hp)
        elif kind == "categorical":
            if not isinstance(hp.get("choices"), list) or not hp["choices"]:
                raise ValueError(f"{name}: categorical hyperparameter needs a non-empty list 'choices'")
            choices = list(hp["choices"])
            if not all(isinstance(c, str) for c in choices):
                raise ValueError(f"{name}: categorical choices must be strings (YAHPO encoding), got {choices}")
            if len(set(choices)) != len(choices):
                raise ValueError(f"{name}: categorical choices must be distinct, got {choices}")
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
        found = read_json(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not a complete scenario: encoding.json is missing") from None
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


# ----- the integrity record: each graph's contract ---------------------------------------------

def graph_contract(space_doc: Mapping[str, Any], targets: Sequence[Target], outputs: Sequence[str],
                   space: str | None, fidelity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a graph was built for: the space document (bounds, choices in code order), the
    input columns, every target of the scenario and the targets of its own output columns;
    for a multi-fidelity graph also meta.json's ``fidelity`` entry (the ladder the runtime
    accepts, the noise scales and cost shares compiled into the graph)."""
    cat_names, _, cont_names, _, _ = space_tables(space_doc)
    known = [t.name for t in targets]
    unknown = [o for o in outputs if o not in known]
    if unknown:
        raise ValueError(f"graph outputs {unknown} are not targets of the scenario ({known})")
    contract = {"format_version": FORMAT_VERSION, "space": space, "config_space": json.loads(json.dumps(space_doc)),
                "inputs": {"x_cat": cat_names, "x_cont": cont_names},
                "targets": [t.to_json() for t in targets], "outputs": list(outputs)}
    if fidelity is not None:
        contract["fidelity"] = json.loads(json.dumps(fidelity))
    return contract


def stamp_contract(model_bytes: bytes, contract: Mapping[str, Any]) -> bytes:
    """``model_bytes`` with ``contract`` in its ONNX metadata (replacing an older one); the
    graph itself is untouched. Needs the ``onnx`` package."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != CONTRACT_KEY]
    onnx.helper.set_model_props(model, {**dict(kept), CONTRACT_KEY: json.dumps(contract, sort_keys=True)})
    return model.SerializeToString()


def contract_of(session: Any, path: Path) -> dict[str, Any]:
    """The contract an onnxruntime session's graph carries."""
    text = session.get_modelmeta().custom_metadata_map.get(CONTRACT_KEY)
    if text is None:
        raise ValueError(f"{path}: the graph carries no {CONTRACT_KEY} metadata (its contract); it was not written "
                         f"by smm-bench's exporter or was stripped; re-export it, or if it is the scenario's "
                         f"original graph run: " + UPGRADE_HINT.format(folder=path.parent))
    try:
        contract = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: the {CONTRACT_KEY} metadata is not valid JSON ({e})") from None
    missing = [k for k in ("config_space", "inputs", "targets", "outputs", "space") if k not in contract]
    if missing:
        raise ValueError(f"{path}: the {CONTRACT_KEY} metadata lacks {', '.join(missing)}")
    return contract


_MISSING = object()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _label(path: str, item: Any) -> str:
    name = item.get("name") if isinstance(item, Mapping) else None
    return f"{path} ({name})" if isinstance(name, str) else path


def first_difference(want: Any, got: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place where JSON value ``got`` differs from ``want``: (path, wanted, found).

    List items are compared by position and labelled by their ``name`` (a hyperparameter, a
    target); 1 and 1.0 are the same number, but True is not 1."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        keys = sorted(want, key=lambda k: k != "name") + [k for k in got if k not in want]  # a name tells most
        for key in keys:
            a, b = want.get(key, _MISSING), got.get(key, _MISSING)
            if a is _MISSING or b is _MISSING:
                return f"{path}.{key}".lstrip("."), a, b
            found = first_difference(a, b, f"{path}.{key}".lstrip("."))
            if found:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(want, got)):
            found = first_difference(a, b, _label(f"{path}[{i}]", a))
            if found:
                return found
        return None if len(want) == len(got) else (path, want, got)
    if _is_number(want) and _is_number(got):
        return None if want == got or (math.isnan(want) and math.isnan(got)) else (path, want, got)
    return None if type(want) is type(got) and want == got else (path, want, got)


def _show(v: Any) -> str:
    return "absent" if v is _MISSING else json.dumps(v)[:200]


def _difference(what: str, want: Any, got: Any, source: str = "the graph was built for") -> str | None:
    """``"<field> is <found>, but <source> <wanted>"`` for the first difference, or None."""
    found = first_difference(want, got)
    if found is None:
        return None
    where, a, b = found
    field = what + ("" if not what or not where or where.startswith("[") else ".") + where
    return f"{field or 'the document'} is {_show(b)}, but {source} {_show(a)}"


def check_against_contract(folder: Path, contract: Mapping[str, Any], meta: Mapping[str, Any],
                           space_doc: Mapping[str, Any], graph: str = "model.onnx") -> None:
    """Every JSON file of the scenario must say what model.onnx's contract says (``graph``: the file
    that contract was read from, named in the errors: objective.onnx implies model.onnx's)."""
    meta_path, space_path = folder / "meta.json", folder / "config_space.json"
    outputs = _target_names(contract)
    if contract["outputs"] != outputs:
        raise ValueError(f"{folder / graph}: its contract lists output columns {contract['outputs']} but "
                         f"targets {outputs}; the graph was not written by smm-bench's exporter")
    checks = [(meta_path, "space", contract["space"], meta.get("space", _MISSING)),
              (meta_path, "cat_names", contract["inputs"].get("x_cat"), meta.get("cat_names", _MISSING)),
              (meta_path, "cont_names", contract["inputs"].get("x_cont"), meta.get("cont_names", _MISSING)),
              (space_path, "", contract["config_space"], space_doc),
              (meta_path, "targets", contract["targets"], meta.get("targets", _MISSING)),
              (meta_path, "fidelity", contract.get("fidelity", _MISSING), meta.get("fidelity", _MISSING))]
    for file, what, want, got in checks:
        text = _difference(what, want, got, f"{folder / graph} was built for")
        if text:
            raise ValueError(f"{file}: {text}; the scenario's files were edited or mixed after export: restore "
                             "them or re-export the scenario")
    check_encoding(folder, contract["config_space"])


def implied_full_contract(objective_contract: Mapping[str, Any]) -> dict[str, Any]:
    """model.onnx's contract as objective.onnx's implies it: the same document with every target an
    output (the exporter stamps both graphs so), for checking the JSON files before model.onnx is opened."""
    return {**objective_contract, "outputs": _target_names(objective_contract)}


def _target_names(contract: Mapping[str, Any]) -> list[Any]:
    """The names of a contract's targets in order (None for an entry that is not a target object)."""
    targets = contract["targets"]
    return [t.get("name") if isinstance(t, Mapping) else None for t in targets] if isinstance(targets, list) else []


def check_full_contract(path: Path, contract: Mapping[str, Any], implied: Mapping[str, Any]) -> None:
    """model.onnx, opened after objective.onnx, must carry the contract objective.onnx implies."""
    text = _difference("", implied, contract, "objective.onnx's contract implies")
    if text:
        raise ValueError(f"{path}: in its contract (ONNX metadata), {text}; a graph of another scenario?")


def check_objective_contract(path: Path, contract: Mapping[str, Any], full: Mapping[str, Any],
                             objective_name: str) -> None:
    """objective.onnx must be built for model.onnx's scenario, with the objective as its one output."""
    text = _difference("", {**full, "outputs": [objective_name]}, contract, "model.onnx's contract implies")
    if text:
        raise ValueError(f"{path}: in its contract (ONNX metadata), {text}; a graph of another scenario?")


def library_versions(*modules: str) -> dict[str, str]:
    """The installed version of each distribution named (those not installed are left out): the
    one lookup behind every version record (scenario meta, compare summaries, collection rows)."""
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
    must not exist or be empty). ``extra_meta``: more ``meta.json`` entries (e.g. ``fidelity``).
    Each graph gets its contract stamped into its ONNX metadata (see the module docstring), so
    every scenario this writes carries its integrity record."""
    check_targets(targets)
    cat_names, _, cont_names, _, _ = space_tables(space_doc)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    fidelity = (extra_meta or {}).get("fidelity")
    model_bytes = stamp_contract(model_bytes, graph_contract(space_doc, targets, [t.name for t in targets], space,
                                                             fidelity))
    (folder / "model.onnx").write_bytes(model_bytes)
    if objective_model_bytes is not None:
        objective = [t.name for t in targets if t.role == "objective"]
        objective_contract = graph_contract(space_doc, targets, objective, space, fidelity)
        objective_model_bytes = stamp_contract(objective_model_bytes, objective_contract)
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
