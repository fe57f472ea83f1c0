"""SMM-Bench scenarios for hpoglue / hposuite (extra ``[hposuite]``; hpoglue pins pandas < 3).

>>> from smm_bench_plugin.hpoglue_adapter import benchmark_description
>>> desc = benchmark_description("smm_ps_mini")
>>> from hpoglue.run_glue import run_glue
>>> from hposuite.optimizers.random_search import RandomSearch
>>> df = run_glue(RandomSearch, desc, budget=50, seed=0)

or ``hposuite.create_study(benchmarks=desc, optimizers=..., ...)``. Measures are the
scenario's targets as they are: the objective accuracy is the metric (maximised,
``minimize=False``), the held-out test accuracy the test metric, a ``cost``-role target (seconds)
the cost. A multi-fidelity scenario (``smm_ps_mini_mf``) declares ``fidelities={"n_items":
ListFidelity}`` over its ladder and answers a query at its fidelity (``("n_items", 32)`` or
``{"n_items": 32}``; none: the full set); a single-fidelity one has none. hposuite writes result
values to its parquet as float32 (about 7 digits); ``run_glue`` returns them as the scenario computed them.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from functools import partial

import numpy as np
from hpoglue import BenchmarkDescription, Measure, Query, Result, SurrogateBenchmark

from .benchmark import Benchmark, load
from .paths import resolve_scenario, scenario_entries
from .scenario import Target, check_targets, read_meta, read_space_doc
from .spaces import read_configspace

__all__ = ["benchmark_description", "benchmark_descriptions"]


def benchmark_description(scenario: str | os.PathLike, *, name: str | None = None) -> BenchmarkDescription:
    """Describe one scenario (name or folder) from its ``meta.json`` and ``config_space.json``.

    No ONNX session is opened here: hposuite describes every benchmark it knows before it runs
    one, so the model is loaded (and its digest and self-checks run) only by ``desc.load``.
    """
    folder = resolve_scenario(scenario)
    meta = read_meta(folder)
    try:
        targets = [Target.from_json(t) for t in meta["targets"]]
        check_targets(targets)
    except ValueError as e:
        raise ValueError(f"{folder / 'meta.json'}: {e}") from None
    by_role = {t.role: t for t in targets}
    measure = {t.name: Measure.metric((t.lower, t.upper), minimize=t.direction == "minimize")
               for t in targets if t.role in ("objective", "test")}
    objective, test, cost = by_role["objective"], by_role.get("test"), by_role.get("cost")
    return BenchmarkDescription(
        name=name or f"smm_bench-{meta['name']}",
        config_space=read_configspace(json.dumps(read_space_doc(folder))),
        load=partial(_load, scenario=str(folder)),
        metrics={objective.name: measure[objective.name]},
        test_metrics={test.name: measure[test.name]} if test else None,
        costs={cost.name: Measure.cost((cost.lower, cost.upper))} if cost else None,
        fidelities=_fidelities(meta),
        has_conditionals=False,
        is_tabular=False,
        mem_req_mb=512,
        extra={"scenario": meta["name"], "path": str(folder), "citation": list(meta.get("citation", []))},
    )


def benchmark_descriptions() -> Iterator[BenchmarkDescription]:
    """One description per installed scenario (bundled and user data dir). A scenario whose
    files cannot be read is skipped with a warning that names it, so one broken user import
    does not hide the others."""
    for entry in scenario_entries():
        try:
            yield benchmark_description(entry.path, name=f"smm_bench-{entry.name}")
        except (OSError, ValueError) as e:
            warnings.warn(f"skipping scenario {entry.name!r} ({entry.path}): {e}", stacklevel=2)


def _load(description: BenchmarkDescription, *, scenario: str) -> SurrogateBenchmark:
    bench = load(scenario)
    return SurrogateBenchmark(desc=description, benchmark=bench, config_space=bench.configspace,
                              query=partial(_query, bench=bench))


def _fidelities(meta: dict) -> dict | None:
    """``{"n_items": ListFidelity}`` over a multi-fidelity scenario's ladder; None without one."""
    fidelity = meta.get("fidelity")
    if not fidelity:
        return None
    from hpoglue.fidelity import ListFidelity

    return {fidelity["name"]: ListFidelity.from_seq([int(k) for k in fidelity["ladder"]])}


def _query(query: Query, *, bench: Benchmark) -> Result:
    if "fidelity" not in bench.meta:
        if query.fidelity is not None:
            raise ValueError(f"scenario {bench.name!r} has no fidelity; got {query.fidelity!r}")
        values = bench.evaluate(dict(query.config.values))[0]
        return Result(query=query, fidelity=None, values={k: float(np.float64(v)) for k, v in values.items()})
    fidelity = query.fidelity
    if isinstance(fidelity, tuple):
        fidelity = dict([fidelity])
    unknown = sorted(set(fidelity or {}) - {bench.fidelity_name})
    if unknown:
        raise ValueError(f"unknown fidelity {unknown}; this scenario's fidelity is {bench.fidelity_name!r}")
    rung = bench.rung_at_most((fidelity or {}).get(bench.fidelity_name))  # an optimiser's eta=3 budget: the rung below
    values = bench.evaluate(dict(query.config.values), fidelity=rung)[0]
    return Result(query=query, fidelity=(bench.fidelity_name, rung),
                  values={k: float(np.float64(v)) for k, v in values.items()})
