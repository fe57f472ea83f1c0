"""SMM-Bench scenarios as carps tasks (carps >= 1.1, extra ``[carps]``).

Run a carps optimiser on a scenario with the task configs shipped in this package::

    python -m carps.run 'hydra.searchpath=[pkg://smm_bench_plugin/configs]' \\
        +task/SMMBench=ps_mini +optimizer/randomsearch=config smm_scenario=smm_ps_mini

``smm_scenario`` is a scenario name or folder (defaults: ``smm_ps_mini`` / ``smm_dfs_mini``). The task
name embeds it, so a folder's path appears inside carps' run directory; a folder copied into
``<data dir>/scenarios/`` (see ``smm-bench list``) is found by its name instead.
carps minimises: the cost is 1 - objective accuracy; ``additional_info`` carries every target's
prediction (the test accuracy included, for post-hoc analysis), and ``virtual_time`` the
predicted evaluation seconds when the scenario has a ``cost`` target (else 0).

Multi-fidelity scenarios (``+task/SMMBench=ps_mini_mf``, ``dfs_mini_mf``): the task's fidelity
space is ``n_items`` from the lowest to the top rung, ``TrialInfo.budget`` is the number of items
(the rung at or below it is evaluated, see ``MultiFidelityBenchmark.rung_at_most``; none: the full
set) and ``virtual_time`` the predicted seconds at that rung.

The task's metadata is built by :func:`task_metadata` from the scenario: a scenario of another
space or fidelity than the task's is refused (``+task/SMMBench=ps_mini smm_scenario=smm_dfs_mini``
fails before any trial), ``has_virtual_time`` is whether the scenario has a cost target, and a
warning is given when the space's default configuration beats every uniform random draw (DFS:
model A unchanged), since an initial design that includes the default starts at the top.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from carps.objective_functions.objective_function import ObjectiveFunction
from carps.utils.task import TaskMetadata
from carps.utils.trials import TrialInfo, TrialValue

from .benchmark import Benchmark
from .kinds import load

__all__ = ["SMMBenchObjectiveFunction", "configuration_space", "task_metadata"]


def configuration_space(scenario: str | os.PathLike):
    """The scenario's ConfigurationSpace (the task yaml's ``input_space`` is built with this)."""
    return load(scenario).configspace


def task_metadata(scenario: str | os.PathLike, space: str, multi_fidelity: bool, **metadata: Any) -> TaskMetadata:
    """carps' TaskMetadata for a task of ``space`` (and fidelity) on ``scenario``, which must match it.

    ``metadata`` holds the task yaml's other entries; ``has_virtual_time`` and the search-space
    counts are set from the scenario, whatever the yaml says (it describes the default scenario)."""
    bench = load(scenario)
    found, has_fidelity = bench.meta.get("space"), "fidelity" in bench.meta
    if found != space or has_fidelity != bool(multi_fidelity):
        kind = "multi-fidelity " if multi_fidelity else "single-fidelity "
        raise ValueError(f"smm_scenario={scenario}: a {'multi-fidelity' if has_fidelity else 'single-fidelity'} "
                         f"{found!r} scenario, but this task is {kind}{space!r}; pick the task of its space "
                         f"(+task/SMMBench={found}_mini{'_mf' if has_fidelity else ''}) or a {space} scenario")
    from .default_point import default_note

    note = None if has_fidelity else default_note(bench)
    if note:
        warnings.warn(note, stacklevel=2)
    metadata.update(has_virtual_time=any(t.role == "cost" for t in bench.targets),
                    dimensions=len(bench.hyperparameter_names), search_space_n_categoricals=len(bench.cat_names),
                    search_space_n_floats=len(bench.cont_names))
    return TaskMetadata(**metadata)


class SMMBenchObjectiveFunction(ObjectiveFunction):
    """carps objective over one scenario; deterministic, so ``trial_info.seed`` is unused."""

    def __init__(self, scenario: str | os.PathLike | Benchmark, loggers: list | None = None) -> None:
        super().__init__(loggers)
        self.bench = scenario if isinstance(scenario, Benchmark) else load(scenario)
        cost = [t.name for t in self.bench.targets if t.role == "cost"]
        self._cost_name = cost[0] if cost else None

    @property
    def configspace(self):
        return self.bench.configspace

    def _evaluate(self, trial_info: TrialInfo) -> TrialValue:
        multifidelity = "fidelity" in self.bench.meta
        if trial_info.budget is not None and not multifidelity:
            raise ValueError(f"scenario {self.bench.name!r} has no fidelity; got budget={trial_info.budget!r}")
        start = time.time()
        if multifidelity:
            rung = self.bench.rung_at_most(trial_info.budget)
            values: dict[str, Any] = {**self.bench.evaluate(dict(trial_info.config), fidelity=rung)[0],
                                      self.bench.fidelity_name: rung}
        else:
            values = self.bench.evaluate(dict(trial_info.config))[0]
        end = time.time()
        return TrialValue(cost=1.0 - values[self.bench.objective_name], time=end - start,
                          virtual_time=float(values[self._cost_name]) if self._cost_name else 0.0,
                          starttime=start, endtime=end, additional_info=dict(values))
