"""An HPOBench-style benchmark over an SMM-Bench scenario.

HPOBench (github.com/automl/HPOBench) is not on PyPI, so this class implements its interface
itself and subclasses ``hpobench.abstract_benchmark.AbstractBenchmark`` only when that is
importable (then ``isinstance`` checks and HPOBench tooling accept it).

Conventions (HPOBench minimises):

* ``function_value`` = 1 - objective accuracy (e.g. 1 - gsm8k-ja accuracy);
  ``objective_function_test`` reports 1 - the held-out test accuracy (MGSM-ja).
* ``cost`` = the scenario's predicted evaluation seconds when it has a ``cost``-role target;
  otherwise the constant ``default_cost`` (300 s: the paper's ~5 GPU-minutes for one true
  merge-and-evaluate of two 7B models). It is the simulated cost of a *true* evaluation,
  not the microseconds the surrogate takes.
* ``info``: every target's raw prediction, plus ``fidelity``. A single-fidelity scenario has
  none: ``get_fidelity_space`` is empty and a non-empty ``fidelity`` is refused. A multi-fidelity
  scenario (``smm_ps_mini_mf``) has ``n_items``: ``get_fidelity_space`` holds it (an ordinal over
  the ladder, as HPOBench's NAS-Bench-101 declares its epoch budgets), ``fidelity={"n_items": 32}``
  evaluates that rung (default: the full set), ``cost`` is the predicted seconds at that rung, and
  ``objective_function_test`` is at the full fidelity only, as HPOBench's test functions are.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .benchmark import Benchmark
from .kinds import load
from .scenario import CITATIONS

__all__ = ["SMMBenchHPOBench", "DEFAULT_COST_SECONDS"]

DEFAULT_COST_SECONDS = 300.0

try:  # pragma: no cover - HPOBench is not installable from PyPI
    from hpobench.abstract_benchmark import AbstractBenchmark as _Base

    _HAVE_HPOBENCH = True
except ImportError:
    _Base = object
    _HAVE_HPOBENCH = False


class _class_or_instance:
    """A method that HPOBench calls on the class (its ``get_meta_information`` is static) and
    that we also want per instance, where the scenario is known."""

    def __init__(self, fn) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, obj: Any, cls: type) -> Any:
        return functools.partial(self._fn, cls if obj is None else obj)


class SMMBenchHPOBench(_Base):
    """HPOBench interface to one scenario (name or folder; default the bundled PS mini twin)."""

    def __init__(self, scenario: str | os.PathLike | Benchmark = "smm_ps_mini", rng: Any = None,
                 default_cost: float = DEFAULT_COST_SECONDS, **kwargs: Any) -> None:
        self.bench = scenario if isinstance(scenario, Benchmark) else load(scenario)
        self.default_cost = float(default_cost)
        cost = [t.name for t in self.bench.targets if t.role == "cost"]
        self._cost_name = cost[0] if cost else None
        self._multifidelity = "fidelity" in self.bench.meta
        if _HAVE_HPOBENCH:  # pragma: no cover
            super().__init__(rng=rng, **kwargs)
        else:
            self.rng = rng  # the surrogate is deterministic; kept for interface parity
            self.configuration_space = self.get_configuration_space()
            self.fidelity_space = self.get_fidelity_space()

    # ----- spaces and metadata ------------------------------------------------------------
    def get_configuration_space(self, seed: int | None = None):
        """The scenario's ConfigSpace (a fresh copy, seeded when ``seed`` is given)."""
        import json

        from .spaces import read_configspace

        cs = read_configspace(json.dumps(self.bench.space_doc))
        if seed is not None:
            cs.seed(seed)
        return cs

    def get_fidelity_space(self, seed: int | None = None):
        """The scenario's fidelity space (``n_items`` on a multi-fidelity scenario; else empty), a fresh copy."""
        import json

        from ConfigSpace import ConfigurationSpace

        if not self._multifidelity:
            return ConfigurationSpace(seed=seed) if seed is not None else ConfigurationSpace()
        from .multifidelity import fidelity_space_doc
        from .spaces import read_configspace

        cs = read_configspace(json.dumps(fidelity_space_doc(self.bench.meta["fidelity"])))
        if seed is not None:
            cs.seed(seed)
        return cs

    @_class_or_instance
    def get_meta_information(self) -> dict[str, Any]:
        """The benchmark's description. On the class (HPOBench declares it static) it describes
        the family and its conventions; on an instance, also the scenario: targets, quality,
        provenance."""
        if isinstance(self, type):
            return {"name": "SMM-Bench", "references": list(CITATIONS),
                    "objective": "1 - the scenario's objective accuracy",
                    "test_objective": "1 - the scenario's held-out test accuracy",
                    "cost": (f"the scenario's predicted evaluation seconds, else a constant "
                             f"{DEFAULT_COST_SECONDS} s per evaluation")}
        return {
            "name": f"SMM-Bench {self.bench.name}",
            "references": self.bench.citation,
            "objective": f"1 - {self.bench.objective_name}",
            "test_objective": None if self.bench.test_name is None else f"1 - {self.bench.test_name}",
            "cost": (f"predicted {self._cost_name} (seconds)" if self._cost_name
                     else f"constant {self.default_cost} s per evaluation"),
            "targets": [t.to_json() for t in self.bench.targets],
            "quality": self.bench.meta.get("quality"),
            "provenance": self.bench.meta.get("provenance"),
        }

    # ----- evaluation ---------------------------------------------------------------------
    def objective_function(self, configuration: Any, fidelity: dict | None = None, rng: Any = None,
                           **kwargs: Any) -> dict[str, Any]:
        """``{"function_value": 1 - objective, "cost": seconds, "info": {...}}``."""
        return self._result(configuration, fidelity, self.bench.objective_name)

    def objective_function_test(self, configuration: Any, fidelity: dict | None = None, rng: Any = None,
                                **kwargs: Any) -> dict[str, Any]:
        """As :meth:`objective_function`, on the held-out test target."""
        if self.bench.test_name is None:
            raise ValueError(f"scenario {self.bench.name!r} has no target with role 'test'")
        if self._multifidelity and fidelity and self.bench.fidelity_column(fidelity, 1)[0, 0] != self.bench.max_fidelity:
            raise ValueError(f"objective_function_test is at the full fidelity only "
                             f"({self.bench.fidelity_name}={self.bench.max_fidelity}); got fidelity={dict(fidelity)!r}")
        return self._result(configuration, fidelity, self.bench.test_name)

    def _result(self, configuration: Any, fidelity: dict | None, target: str) -> dict[str, Any]:
        if isinstance(configuration, (list, tuple)):
            raise TypeError("objective_function() takes one configuration (HPOBench evaluates one at a time); "
                            "use Benchmark.evaluate() or evaluate_array() for batches")
        if self._multifidelity:
            if fidelity is not None and not isinstance(fidelity, dict):
                fidelity = dict(fidelity)  # a ConfigSpace Configuration of the fidelity space
            used = {self.bench.fidelity_name: int(self.bench.fidelity_column(fidelity, 1)[0, 0])}
            values = self.bench.evaluate(configuration, fidelity=used)[0]
        else:
            if fidelity:
                raise ValueError(f"scenario {self.bench.name!r} has no fidelity parameters; got fidelity={dict(fidelity)!r}")
            values, used = self.bench.evaluate(configuration)[0], {}
        cost = values[self._cost_name] if self._cost_name else self.default_cost
        return {"function_value": 1.0 - values[target], "cost": float(cost),
                "info": {**values, "fidelity": used, "target": target}}
