"""SMM-Bench scenarios for hpoglue / hposuite (extra ``[hposuite]``; hpoglue pins pandas < 3).

>>> from smm_bench_plugin.hpoglue_adapter import benchmark_description
>>> desc = benchmark_description("smm_ps_mini")
>>> from hpoglue.run_glue import run_glue
>>> from hposuite.optimizers.random_search import RandomSearch
>>> df = run_glue(RandomSearch, desc, budget=50, seed=0)

or ``hposuite.create_study(benchmarks=desc, optimizers=..., ...)``. Measures are the
scenario's targets as they are: the objective accuracy is the metric (maximised,
``minimize=False``), the held-out test accuracy the test metric, a ``cost``-role target (seconds)
the cost. No fidelities: SMM-Bench scenarios have none yet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import numpy as np
from hpoglue import BenchmarkDescription, Measure, Query, Result, SurrogateBenchmark

from .benchmark import Benchmark, load
from .paths import scenario_entries

__all__ = ["benchmark_description", "benchmark_descriptions"]


def benchmark_description(scenario: str | os.PathLike, *, name: str | None = None) -> BenchmarkDescription:
    """Describe one scenario (name or folder); the ONNX session is created only by ``desc.load``."""
    bench = load(scenario)
    by_role = {t.role: t for t in bench.targets}
    measure = {t.name: Measure.metric((t.lower, t.upper), minimize=t.direction == "minimize")
               for t in bench.targets if t.role in ("objective", "test")}
    cost = by_role.get("cost")
    return BenchmarkDescription(
        name=name or f"smm_bench-{bench.name}",
        config_space=bench.configspace,
        load=partial(_load, scenario=str(bench.path)),
        metrics={bench.objective_name: measure[bench.objective_name]},
        test_metrics={bench.test_name: measure[bench.test_name]} if bench.test_name else None,
        costs={cost.name: Measure.cost((cost.lower, cost.upper))} if cost else None,
        fidelities=None,
        has_conditionals=False,
        is_tabular=False,
        mem_req_mb=512,
        extra={"scenario": bench.name, "path": str(bench.path), "citation": bench.citation},
    )


def benchmark_descriptions() -> Iterator[BenchmarkDescription]:
    """One description per installed scenario (bundled and user data dir)."""
    for entry in scenario_entries():
        yield benchmark_description(entry.path, name=f"smm_bench-{entry.name}")


def _load(description: BenchmarkDescription, *, scenario: str) -> SurrogateBenchmark:
    bench = load(scenario)
    return SurrogateBenchmark(desc=description, benchmark=bench, config_space=bench.configspace,
                              query=partial(_query, bench=bench))


def _query(query: Query, *, bench: Benchmark) -> Result:
    if query.fidelity is not None:
        raise ValueError(f"SMM-Bench scenarios have no fidelity; got {query.fidelity!r}")
    values = bench.evaluate(dict(query.config.values))[0]
    return Result(query=query, fidelity=None, values={k: float(np.float64(v)) for k, v in values.items()})
