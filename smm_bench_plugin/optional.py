"""Optional dependencies, imported when a feature needs them and named with their extra when missing.

``import smm_bench_plugin`` pulls in numpy only; everything else a feature needs (pyarrow for the
table of true evaluations, the collection layer and torch for live evaluations, Optuna) is imported
through :func:`require` at the moment it is used, so a missing package fails with the feature
that needed it and the ``pip install`` line that provides it.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """``module``, imported; a ModuleNotFoundError naming ``feature`` and the extra if it is missing.

    >>> require("pyarrow.parquet", "compare", 'kind="table"')   # doctest: +SKIP
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"{feature} needs {e.name or module}: pip install 'smm-bench-plugin[{extra}]'",
                                  name=e.name or module) from None
