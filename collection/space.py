"""The two search spaces as the collection layer sees them: sorted, typed hyperparameters.

The source of truth is the ConfigSpace JSON in ``configspaces/`` (package
``smm_bench_plugin.configspaces``). It is parsed here as plain JSON, so this layer needs neither a
particular ConfigSpace version nor its sampling code (the samplers own their randomness). When no
JSON file is found, the spaces are built from the names and bounds of
``smm_bench_plugin.spaces``; a JSON file that disagrees with them is rejected, because a store keyed by
one definition must not be extended under another.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Union

from smm_bench_plugin.spaces import DFS_CHOICES, DFS_SCALE_BOUNDS, PS_BOUNDS, dfs_cat_names, dfs_cont_names, ps_names

from .types import Config


@dataclass(frozen=True)
class FloatParam:
    name: str
    lower: float
    upper: float


@dataclass(frozen=True)
class CategoricalParam:
    name: str
    choices: tuple[str, ...]


Param = Union[FloatParam, CategoricalParam]


@dataclass(frozen=True)
class Space:
    """Hyperparameters sorted by name (= dataset column order = ONNX column order)."""

    name: str
    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(sorted(self.params, key=lambda p: p.name)))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate hyperparameter names in space {self.name}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def floats(self) -> list[FloatParam]:
        return [p for p in self.params if isinstance(p, FloatParam)]

    @property
    def categoricals(self) -> list[CategoricalParam]:
        return [p for p in self.params if isinstance(p, CategoricalParam)]

    def canonical(self, config: Mapping[str, object]) -> Config:
        """Validate ``config`` and return it with exactly this space's keys, in sorted order,
        floats as Python floats and choices as str (numpy scalars would hash differently)."""
        extra = set(config) - set(self.names)
        if extra:
            raise KeyError(f"unknown hyperparameters for space {self.name}: {sorted(extra)[:5]}")
        out: Config = {}
        for p in self.params:
            if p.name not in config:
                raise KeyError(f"config lacks {p.name} (space {self.name})")
            value = config[p.name]
            if isinstance(p, FloatParam):
                value = float(value)  # type: ignore[arg-type]
                if not (p.lower <= value <= p.upper) or math.isnan(value):
                    raise ValueError(f"{p.name}={value} outside [{p.lower}, {p.upper}]")
            else:
                value = str(value)
                if value not in p.choices:
                    raise ValueError(f"{p.name}={value!r} not in {p.choices}")
            out[p.name] = value
        return out


def ps_space() -> Space:
    """PS: ``w{m}_l{ll}``, 2 sources x 32 layers, floats in [0, 1]."""
    lo, hi = PS_BOUNDS
    return Space("ps", tuple(FloatParam(name, lo, hi) for name in ps_names()))


def dfs_space() -> Space:
    """DFS: ``slot00..slot31`` in {A, B, none} and ``scale01..scale63`` in [0.4, 1.5]."""
    slots = tuple(CategoricalParam(name, DFS_CHOICES) for name in dfs_cat_names())
    lo, hi = DFS_SCALE_BOUNDS
    scales = tuple(FloatParam(name, lo, hi) for name in dfs_cont_names())
    return Space("dfs", slots + scales)


BUILTIN = {"ps": ps_space, "dfs": dfs_space}


def space_from_configspace_json(text: str | Mapping, name: str) -> Space:
    """Parse ConfigSpace JSON (0.6.1 writer format, or 1.x) into a :class:`Space`."""
    data = json.loads(text) if isinstance(text, str) else text
    params: list[Param] = []
    for hp in data["hyperparameters"]:
        kind = hp["type"]
        if kind in ("uniform_float", "normal_float", "float"):
            if hp.get("log"):
                raise ValueError(f"{hp['name']}: log-scale floats are not part of the SMM-Bench spaces")
            params.append(FloatParam(hp["name"], float(hp["lower"]), float(hp["upper"])))
        elif kind == "categorical":
            params.append(CategoricalParam(hp["name"], tuple(str(c) for c in hp["choices"])))
        else:
            raise ValueError(f"{hp['name']}: unsupported hyperparameter type {kind!r}")
    if data.get("conditions") or data.get("forbiddens"):
        raise ValueError("conditions/forbiddens are not part of the SMM-Bench spaces")
    return Space(name, tuple(params))


def _shipped_json(name: str) -> Path | None:
    try:
        from smm_bench_plugin import configspaces
    except ImportError:  # pragma: no cover - runtime not installed
        return None
    folder = Path(configspaces.__file__).parent
    for candidate in (f"smm_{name}.json", f"{name}.json", f"smm_bench_{name}.json", f"{name}_config_space.json",
                      f"{name}/config_space.json"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def load_space(space: str | Path | Space) -> Space:
    """``"ps"``/``"dfs"`` (shipped JSON if present, checked against the builtin definition),
    a path to a ConfigSpace JSON file, or a :class:`Space` (returned as is)."""
    if isinstance(space, Space):
        return space
    key = str(space).lower()
    if key in BUILTIN:
        builtin = BUILTIN[key]()
        path = _shipped_json(key)
        if path is None:
            return builtin
        shipped = space_from_configspace_json(path.read_text(encoding="utf-8"), key)
        if shipped != builtin:
            raise ValueError(f"{path} disagrees with the {key} space of smm_bench_plugin.spaces")
        return shipped
    path = Path(space)
    return space_from_configspace_json(path.read_text(encoding="utf-8"), path.stem.lower())
