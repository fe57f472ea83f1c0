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

:func:`table_description` describes the stored true evaluations of a scenario's family as an
hpoglue ``TabularBenchmark`` (``is_tabular=True``): the optimisers that declare ``tabular=True``
(hposuite's ``RandomSearch``) pick among the stored configurations and read their true values.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import replace
from functools import partial

import numpy as np
from hpoglue import BenchmarkDescription, Config, Measure, Query, Result, SurrogateBenchmark

from .benchmark import Benchmark
from .kinds import load
from .optional import require
from .paths import resolve_scenario, scenario_entries
from .scenario import Target, check_targets, read_meta, read_space_doc
from .spaces import read_configspace

__all__ = ["benchmark_description", "benchmark_descriptions", "table_description"]


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
        predefined_points=_predefined_points(folder, meta),
        extra={"scenario": meta["name"], "path": str(folder), "citation": list(meta.get("citation", []))},
    )


def _predefined_points(folder, meta: dict) -> dict[str, Config]:
    """The space's default configuration, with what its report measured for it (no model is loaded here).

    On DFS the default is model A unchanged and scores near the top of the space (see
    :mod:`smm_bench_plugin.default_point`): an optimiser that starts from it starts at the top."""
    space = read_configspace(json.dumps(read_space_doc(folder)))
    description = "the space's default configuration"
    report = folder / "report.json"
    if report.is_file():
        point = (json.loads(report.read_text()).get("reference_points") or {}).get("points", {}).get(
            "default configuration")
        if point and point.get("true_objective") is not None:
            description += f": true objective {point['true_objective']:.3f} (report.json)"
    if meta.get("space") == "dfs":
        description += ("; model A unchanged, far above uniform random paths: an optimiser whose initial "
                        "design includes it starts at the top")
    return {"default": Config(config_id="default", description=description,
                              values=dict(space.get_default_configuration()))}


def table_description(scenario: str | os.PathLike, *, data: str | os.PathLike | None = None,
                      name: str | None = None) -> BenchmarkDescription:
    """The stored true evaluations of ``scenario``'s family as a tabular benchmark (see
    :class:`~smm_bench_plugin.true_kinds.TableBenchmark`; ``data`` as there).

    hpoglue numbers a table's configurations by their rank in the table sorted by the
    hyperparameters (``TabularBenchmark.get_tabular_config_space``); the table given to it is
    numbered the same way, so a query's ``config_id`` finds its own row."""
    from hpoglue import TabularBenchmark

    table = load(scenario, kind="table", **({} if data is None else {"data": data}))
    frame = _table_frame(table)
    keys = list(table.hyperparameter_names)
    described = benchmark_description(table.path, name=name or f"smm_bench_table-{table.name}")
    return replace(described, config_space=TabularBenchmark.get_tabular_config_space(frame, keys),
                   load=partial(_load_table, frame=frame, config_keys=keys), is_tabular=True,
                   extra={**described.extra, "kind": "table", "data": str(table.data), "rows": len(table)})


def _table_frame(table):
    """A pandas frame of the table: hyperparameters, targets, and ``config_index``, the row's rank
    in hpoglue's order (sorted by the hyperparameters)."""
    pd = require("pandas", "hposuite", "hpoglue's table description")
    configs = table.configs()
    values = table.evaluate(configs)
    frame = pd.DataFrame([{**c, **v} for c, v in zip(configs, values)])
    keys = list(table.hyperparameter_names)
    frame = frame.sort_values(by=keys).reset_index(drop=True)
    frame["config_index"] = [str(i) for i in range(len(frame))]
    return frame


def _load_table(description: BenchmarkDescription, *, frame, config_keys: list[str]):
    from hpoglue import TabularBenchmark

    return TabularBenchmark(desc=description, table=frame, id_key="config_index", config_keys=config_keys)


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
