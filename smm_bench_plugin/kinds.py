"""``load``: open a scenario as the kind of benchmark asked for.

A scenario can be answered three ways, each a subclass of
:class:`~smm_bench_plugin.benchmark.Benchmark` in a module of its own:

- ``"surrogate"`` (the default): the ONNX model; a :class:`~smm_bench_plugin.benchmark.Benchmark`,
  or a :class:`~smm_bench_plugin.multifidelity.MultiFidelityBenchmark` when ``meta.json`` has a
  ``fidelity``;
- ``"table"``: the stored true evaluations of the scenario's family
  (:class:`~smm_bench_plugin.true_kinds.TableBenchmark`, option ``data``);
- ``"live"``: real merges of that family (:class:`~smm_bench_plugin.true_kinds.LiveBenchmark`,
  option ``store``).

:data:`KINDS` maps each name to the function that picks the class for a scenario folder. This
module sits above the kinds: they import :mod:`~smm_bench_plugin.benchmark`, this module imports
them, and none of them imports it, so the imports point one way. The true kinds are imported
only when one is asked for (``import smm_bench_plugin`` does not load them).

>>> import smm_bench_plugin as smm
>>> smm.load("smm_ps_mini")                  # Benchmark('smm_ps_mini', ...)
>>> smm.load("smm_ps_mini", kind="table")    # TableBenchmark('smm_ps_mini', family mini-v1, ...)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .benchmark import Benchmark
from .paths import resolve_scenario
from .scenario import read_meta
from .sessions import check_threads

__all__ = ["KINDS", "benchmark_class", "load"]


def benchmark_class(folder: Path) -> type[Benchmark]:
    """The class that serves scenario ``folder``: multi-fidelity when ``meta.json`` has a ``fidelity``."""
    if "fidelity" in read_meta(folder):
        from .multifidelity import MultiFidelityBenchmark

        return MultiFidelityBenchmark
    return Benchmark


def _single_fidelity(folder: Path, kind: str) -> None:
    """The true kinds answer a single-fidelity scenario only: no true evaluation is stored per rung."""
    if "fidelity" in read_meta(folder):
        raise ValueError(f"kind={kind!r} serves single-fidelity scenarios; {folder.name!r} has a fidelity "
                         "(load the single-fidelity scenario of the same space)")


def _table_class(folder: Path) -> type[Benchmark]:
    _single_fidelity(folder, "table")
    from .true_kinds import TableBenchmark

    return TableBenchmark


def _live_class(folder: Path) -> type[Benchmark]:
    _single_fidelity(folder, "live")
    from .true_kinds import LiveBenchmark

    return LiveBenchmark


#: kind name -> the class that serves a scenario folder as that kind (its module imported when asked for)
KINDS: dict[str, Callable[[Path], type[Benchmark]]] = {
    "surrogate": benchmark_class,
    "table": _table_class,
    "live": _live_class,
}


def load(name_or_path: str | os.PathLike, *, kind: str = "surrogate", intra_op_threads: int = 1,
         **options: Any) -> Benchmark:
    """Load a scenario by name (see :func:`list_scenarios`) or by folder path.

    ``kind`` says what answers: ``"surrogate"`` (the ONNX model, the default), ``"table"`` (the
    stored true evaluations of the scenario's family; option ``data``) or ``"live"`` (real
    merges of that family; option ``store``), see :mod:`smm_bench_plugin.true_kinds`.
    A multi-fidelity scenario (``meta.json`` has a ``fidelity``) comes back as a
    :class:`~smm_bench_plugin.multifidelity.MultiFidelityBenchmark`, which also takes a fidelity."""
    check_threads(intra_op_threads)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    folder = resolve_scenario(name_or_path)
    if kind == "surrogate" and options:
        raise TypeError(f"load() got option(s) {', '.join(sorted(options))}, which only kind='table' (data) or "
                        "kind='live' (store) take")
    return KINDS[kind](folder)(folder, intra_op_threads=intra_op_threads, **options)
