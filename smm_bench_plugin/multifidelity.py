"""``MultiFidelityBenchmark``: a scenario whose objective can be asked at a cheaper fidelity.

The fidelity is ``n_items``: the objective accuracy on the first ``n_items`` items of a fixed,
seeded item order (nested prefixes), on the ladder ``meta.json`` lists (``fidelity.ladder``;
the top rung is the whole objective set, the default). The test accuracy is the full test set
at every fidelity, and the cost target is what an evaluation at that fidelity costs (seconds).
How the graph reads a rung: :mod:`smm_bench_plugin.fidelity_graph`.

>>> bench = smm.load("smm_ps_mini_mf")
>>> bench.fidelity_space                 # n_items, Ordinal [16, 32, 64, 128, 256], default 256
>>> bench.objective(config, fidelity=32) # the 32-item accuracy (a multiple of 1/32)
>>> bench.evaluate([c1, c2], fidelity={"n_items": 64})
>>> bench.objective_array(x_cat, x_cont, fidelity=np.array([16, 256]))   # one per row

Without ``fidelity`` every call is at the full fidelity, so code written for a single-fidelity
scenario runs unchanged on a multi-fidelity one.
"""
from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import Benchmark
from .scenario import read_meta

__all__ = ["MultiFidelityBenchmark", "fidelity_space_doc"]

Fidelity = Any  # None | a ladder value | {name: value} | a sequence / array of ladder values, one per row


def fidelity_space_doc(fidelity: Mapping[str, Any]) -> dict[str, Any]:
    """The fidelity space as ConfigSpace 0.6.1-format JSON (an ordinal over the ladder), as YAHPO Gym reads it."""
    ladder = [int(k) for k in fidelity["ladder"]]
    return {"hyperparameters": [{"name": fidelity["name"], "type": "ordinal", "sequence": ladder,
                                 "default": ladder[-1]}],
            "conditions": [], "forbiddens": [], "python_module_version": "0.6.1", "json_format_version": 0.4}


class MultiFidelityBenchmark(Benchmark):
    """A :class:`Benchmark` whose calls take an optional ``fidelity`` (default: the full one)."""

    _extra_cont_columns = 1  # the graph's last x_cont column is the fidelity

    def __init__(self, folder, *, intra_op_threads: int = 1) -> None:
        fidelity = read_meta(Path(folder)).get("fidelity")
        if not isinstance(fidelity, Mapping) or not fidelity.get("ladder") or not fidelity.get("name"):
            raise ValueError(f"{folder}/meta.json: 'fidelity' must be an object with 'name' and 'ladder'")
        self.fidelity_name: str = str(fidelity["name"])
        self.ladder: tuple[int, ...] = tuple(int(k) for k in fidelity["ladder"])
        if list(self.ladder) != sorted(set(self.ladder)) or self.ladder[0] < 1:
            raise ValueError(f"{folder}/meta.json: fidelity ladder must be increasing positive counts, got {self.ladder}")
        self.max_fidelity: int = self.ladder[-1]
        self.min_fidelity: int = self.ladder[0]
        self._allowed = frozenset(self.ladder)
        self._full = np.float64(self.max_fidelity)
        super().__init__(folder, intra_op_threads=intra_op_threads)
        self._fidelity_space = None

    # ----- fidelity metadata ----------------------------------------------------------------
    @property
    def fidelity(self) -> dict[str, Any]:
        """``meta.json``'s fidelity entry: name, ladder, how rungs are derived, noise and cost shares."""
        return dict(self.meta["fidelity"])

    @property
    def fidelity_space(self):
        """``ConfigSpace.ConfigurationSpace`` with one ordinal ``n_items`` over the ladder, default the top rung."""
        if self._fidelity_space is None:
            from .spaces import read_configspace

            self._fidelity_space = read_configspace(json.dumps(fidelity_space_doc(self.meta["fidelity"])))
        return self._fidelity_space

    # ----- evaluation -----------------------------------------------------------------------
    def evaluate(self, configs: Any, fidelity: Fidelity = None) -> list[dict[str, float]]:
        """As :meth:`Benchmark.evaluate`, at ``fidelity`` (one for all, or one per configuration)."""
        if not isinstance(configs, (list, tuple)):
            configs = [configs]
        x_cat, x_cont = self._encoder.encode(configs)
        names = self.target_names
        return [dict(zip(names, row)) for row in self._run(x_cat, x_cont, fidelity).tolist()]

    def evaluate_array(self, x_cat: np.ndarray, x_cont: np.ndarray, fidelity: Fidelity = None) -> np.ndarray:
        """As :meth:`Benchmark.evaluate_array`; ``x_cont`` holds the space's floats only (not the fidelity)."""
        return self._run(*self._encoder.check_arrays(x_cat, x_cont), fidelity)

    def objective(self, config: Any, fidelity: Fidelity = None) -> float:
        """The objective at ``fidelity`` for one configuration."""
        return float(self._objective_values(*self._encode_one(config), fidelity)[0])

    def objective_array(self, x_cat: np.ndarray, x_cont: np.ndarray, fidelity: Fidelity = None) -> np.ndarray:
        """The objective alone at ``fidelity``, float64 [N]."""
        return self._objective_values(*self._encoder.check_arrays(x_cat, x_cont), fidelity)

    def cost(self, config: Any, fidelity: Fidelity = None) -> float:
        """The predicted seconds of one true evaluation at ``fidelity``."""
        roles = {t.role: i for i, t in enumerate(self.targets)}
        if "cost" not in roles:
            raise ValueError(f"scenario {self.name!r} has no target with role 'cost'")
        return float(self._run(*self._encode_one(config), fidelity)[0, roles["cost"]])

    def fidelity_column(self, fidelity: Fidelity, n: int) -> np.ndarray:
        """``fidelity`` as the graph's extra column, float64 [n, 1], after checking every value."""
        if fidelity is None:
            return np.full((n, 1), self._full)
        if isinstance(fidelity, Mapping):
            unknown = sorted(set(map(str, fidelity)) - {self.fidelity_name})
            if unknown:
                raise ValueError(f"unknown fidelity parameter(s) {unknown}; this scenario's fidelity is "
                                 f"{self.fidelity_name!r} with values {list(self.ladder)}")
            fidelity = fidelity.get(self.fidelity_name)
            if fidelity is None:
                return np.full((n, 1), self._full)
        if isinstance(fidelity, (numbers.Real, np.number)) and not isinstance(fidelity, (bool, np.bool_)):
            return np.full((n, 1), self._checked_value(fidelity))
        if isinstance(fidelity, (str, bytes, bool)) or not isinstance(fidelity, (Sequence, np.ndarray)):
            raise TypeError(f"fidelity must be None, one of {list(self.ladder)}, {{'{self.fidelity_name}': value}} "
                            f"or one value per row; got {fidelity!r}")
        values = np.asarray(fidelity)
        if values.shape != (n,):
            raise ValueError(f"fidelity: expected one {self.fidelity_name} per row ({n}), got shape {values.shape}")
        if values.dtype.kind not in "iuf":
            raise TypeError(f"fidelity values must be numbers from {list(self.ladder)}, got dtype {values.dtype}")
        column = values.astype(np.float64).reshape(n, 1)
        bad = ~np.isin(column[:, 0], np.asarray(self.ladder, dtype=np.float64))
        if bad.any():
            self._checked_value(column[int(np.argmax(bad)), 0])
        return column

    def rung_at_most(self, budget: float | None) -> int:
        """The highest rung not above ``budget`` (the lowest rung below it; the top rung for None).

        For ecosystem optimisers whose budgets are not ours to choose (a carps Hyperband with
        eta = 3 asks 28.4 items): they get, and pay for, the rung below what they asked."""
        if budget is None:
            return self.max_fidelity
        budget = float(budget)
        if not np.isfinite(budget):
            raise ValueError(f"budget must be a finite number of {self.fidelity_name}, got {budget}")
        below = [k for k in self.ladder if k <= budget + 1e-9]
        return below[-1] if below else self.min_fidelity

    def _checked_value(self, value: Any) -> np.float64:
        v = float(value)
        if not (v.is_integer() and int(v) in self._allowed):
            shown = value.item() if isinstance(value, np.generic) else value
            raise ValueError(f"fidelity {self.fidelity_name}={shown!r} is not on the ladder; allowed: "
                             f"{', '.join(map(str, self.ladder))}")
        return np.float64(v)

    def _run(self, x_cat: np.ndarray, x_cont: np.ndarray, fidelity: Fidelity = None) -> np.ndarray:
        x = np.concatenate([x_cont, self.fidelity_column(fidelity, len(x_cont))], axis=1)
        return self._run_feed({"x_cat": x_cat, "x_cont": x})

    def _objective_values(self, x_cat: np.ndarray, x_cont: np.ndarray, fidelity: Fidelity = None) -> np.ndarray:
        if self._objective_feed is None:
            return self._run(x_cat, x_cont, fidelity)[:, self._objective_col]
        x = np.concatenate([x_cont, self.fidelity_column(fidelity, len(x_cont))], axis=1)
        return self._objective_feed({"x_cat": x_cat, "x_cont": x})[:, 0]

    def _probe_feed(self) -> dict[str, np.ndarray]:
        """The base class's probe rows, each at a rung of the ladder in turn (every rung is checked)."""
        feed = super()._probe_feed()
        rungs = np.resize(np.asarray(self.ladder, dtype=np.float64), len(feed["x_cont"]))
        feed["x_cont"] = np.concatenate([feed["x_cont"], rungs[:, None]], axis=1)
        return feed
