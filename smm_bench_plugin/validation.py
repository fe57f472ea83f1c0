"""Config -> ONNX input arrays, with the checks done before onnxruntime sees anything.

Why not ConfigSpace's own checks: they cost 0.2-0.8 ms per config (SPEC §7) while the
model itself costs microseconds. Here all tables (name order, choice->code dicts, bounds
arrays) are built once per scenario, the per-config work is a few list comprehensions, and
range/finiteness checks are vectorised over the batch. Only when a check fails do we spend
time finding the offending parameter, so that the error names it and its allowed values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ConfigEncoder"]

# Every numpy integer and real float scalar type, platform aliases included (np.longdouble,
# np.longlong, np.intc, ...), plus Python's own; bool and complex are refused on purpose.
_REAL_TYPES = frozenset({float, int, *(np.dtype(code).type
                                       for code in np.typecodes["Float"] + np.typecodes["AllInteger"])})


def _as_mapping(config: Any) -> Mapping[str, Any]:
    if isinstance(config, Mapping):
        return config
    if hasattr(config, "get_dictionary"):  # ConfigSpace 0.6.1 Configuration is not a Mapping
        return config.get_dictionary()
    if hasattr(config, "to_dict") and hasattr(config, "index"):  # a pandas Series (a table row) is not one either
        return config.to_dict()
    raise TypeError(f"a configuration must be a dict or ConfigSpace.Configuration (or another Mapping, or a "
                    f"pandas Series), got {type(config).__name__}")


def _tuple_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``cfg -> tuple(cfg[n] for n in names)`` at C speed (``itemgetter`` returns a bare value
    for one name and cannot take none, hence the two special cases)."""
    if not names:
        return lambda cfg: ()
    if len(names) == 1:
        name = names[0]
        return lambda cfg: (cfg[name],)
    return operator.itemgetter(*names)


class ConfigEncoder:
    """Validates configurations / arrays of one scenario and encodes them for the graph."""

    def __init__(self, cat_names: Sequence[str], cat_choices: Sequence[Sequence[str]],
                 cont_names: Sequence[str], cont_lower: Sequence[float], cont_upper: Sequence[float]) -> None:
        self.cat_names = tuple(cat_names)
        self.cont_names = tuple(cont_names)
        self.cat_choices = tuple(tuple(c) for c in cat_choices)
        self._codes = tuple({c: i + 1 for i, c in enumerate(ch)} for ch in self.cat_choices)
        self._cat_items = tuple(zip(self.cat_names, self._codes))
        self._n_levels = np.array([len(c) for c in self.cat_choices], dtype=np.int64)
        self.lower = np.asarray(cont_lower, dtype=np.float64)
        self.upper = np.asarray(cont_upper, dtype=np.float64)
        self._names = frozenset(self.cat_names) | frozenset(self.cont_names)
        self._n = len(self._names)
        self._get_cont = _tuple_getter(self.cont_names)
        self._get_cat = _tuple_getter(self.cat_names)

    # ----- configurations ---------------------------------------------------------------
    def encode(self, configs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(x_cat int32 [N, n_cat], x_cont float64 [N, n_cont]) for validated configs.

        The loop body is all C-level iteration (``itemgetter``, ``map``, set inclusion):
        a 64-float config costs ~1 us here plus one array build, instead of one Python
        bytecode loop per value. Anything unusual drops into the ``_*_error`` helpers, which
        only run to build the message.
        """
        n = len(configs)
        if n == 0:
            raise ValueError("empty batch: pass at least one configuration")
        get_cont, get_cat, tables, n_names, real = self._get_cont, self._get_cat, self._codes, self._n, _REAL_TYPES
        cont_rows: list[tuple[Any, ...]] = []
        cat_rows: list[list[Any]] = []
        for i, raw in enumerate(configs):
            cfg = raw if type(raw) is dict else _as_mapping(raw)
            try:
                row = get_cont(cfg)
                codes = list(map(dict.get, tables, get_cat(cfg)))  # str and np.str_ hit
            except KeyError:
                self._key_error(cfg, i)
            except TypeError:  # an unhashable value for a categorical
                self._category_error(cfg, i)
            if len(cfg) != n_names:
                self._key_error(cfg, i)
            if not real.issuperset(map(type, row)):
                self._type_error(list(row), i)
            if None in codes:
                self._category_error(cfg, i)
            cont_rows.append(row)
            cat_rows.append(codes)
        try:
            x_cont = np.array(cont_rows, dtype=np.float64).reshape(n, len(self.cont_names))
        except OverflowError:  # a Python int beyond float range (10**400)
            self._overflow_error(cont_rows)
        self._check_cont(x_cont, lambda r: f"configuration {r}")
        x_cat = np.array(cat_rows, dtype=np.int32).reshape(n, len(self.cat_names))
        return x_cat, x_cont

    def _key_error(self, cfg: Mapping[str, Any], i: int):
        keys = set(cfg)
        missing = sorted(self._names - keys)
        unknown = sorted(map(str, keys - self._names))
        parts = []
        if missing:
            parts.append(f"missing hyperparameter(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unknown:
            parts.append(f"unknown hyperparameter(s) {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
        raise ValueError(f"configuration {i}: {'; '.join(parts)} (expected exactly: "
                         f"{self._describe_names()})")

    def _describe_names(self) -> str:
        names = sorted(self._names)
        return f"{len(names)} names {names[0]} ... {names[-1]}" if len(names) > 6 else ", ".join(names)

    def _type_error(self, row: list[Any], i: int):
        for name, v, lo, hi in zip(self.cont_names, row, self.lower, self.upper):
            if type(v) not in _REAL_TYPES:
                raise TypeError(f"configuration {i}: {name} must be a real number in [{float(lo)}, {float(hi)}], "
                                f"got {v!r} ({type(v).__name__})")

    def _overflow_error(self, rows: list[tuple[Any, ...]]):
        for i, row in enumerate(rows):
            for name, v, lo, hi in zip(self.cont_names, row, self.lower, self.upper):
                try:
                    float(v)
                except OverflowError:
                    raise ValueError(f"configuration {i}: {name}={v!r} is out of range; "
                                     f"allowed range [{float(lo)}, {float(hi)}]") from None
        raise AssertionError("unreachable: no value overflowed")  # pragma: no cover

    def _category_error(self, cfg: Mapping[str, Any], i: int):
        for (name, table), choices in zip(self._cat_items, self.cat_choices):
            v = cfg[name]
            if not isinstance(v, str) or v not in table:
                raise ValueError(f"configuration {i}: {name}={v!r} is not an allowed choice; "
                                 f"allowed: {', '.join(map(repr, choices))}")

    def _check_cont(self, x: np.ndarray, where) -> None:
        if x.size == 0:
            return
        if len(x) > 16:  # column min/max: two passes and no [N, n] temporaries; NaN makes them fail
            if (x.min(0) >= self.lower).all() and (x.max(0) <= self.upper).all():
                return
        else:
            ok = (x >= self.lower) & (x <= self.upper)  # False for NaN
            if ok.all():
                return
        ok = (x >= self.lower) & (x <= self.upper)
        r, c = np.argwhere(~ok)[0]
        v = float(x[r, c])
        what = "is not finite" if not np.isfinite(v) else "is out of range"
        raise ValueError(f"{where(int(r))}: {self.cont_names[c]}={v!r} {what}; "
                         f"allowed range [{float(self.lower[c])}, {float(self.upper[c])}]")

    # ----- arrays -----------------------------------------------------------------------
    def check_arrays(self, x_cat: Any, x_cont: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate raw arrays (YAHPO codes 1..K in x_cat) and return graph-ready copies/views."""
        if not isinstance(x_cat, np.ndarray) or not isinstance(x_cont, np.ndarray):
            raise TypeError("x_cat and x_cont must be numpy arrays")
        n_cat, n_cont = len(self.cat_names), len(self.cont_names)
        if x_cat.ndim != 2 or x_cat.shape[1] != n_cat:
            raise ValueError(f"x_cat must have shape (N, {n_cat}), got {x_cat.shape}")
        if x_cont.ndim != 2 or x_cont.shape[1] != n_cont:
            raise ValueError(f"x_cont must have shape (N, {n_cont}), got {x_cont.shape}")
        if x_cat.shape[0] != x_cont.shape[0]:
            raise ValueError(f"x_cat has {x_cat.shape[0]} rows but x_cont has {x_cont.shape[0]}")
        if x_cont.shape[0] == 0:
            raise ValueError("empty batch: x_cat / x_cont have no rows")
        if x_cat.dtype.kind not in "iu":
            raise ValueError(f"x_cat must have an integer dtype (YAHPO codes 1..K), got {x_cat.dtype}")
        if x_cont.dtype.kind != "f":
            raise ValueError(f"x_cont must have a float dtype, got {x_cont.dtype}")
        if n_cat and not (x_cat.min() >= 1 and (x_cat.max(0) <= self._n_levels).all()):
            bad = (x_cat < 1) | (x_cat > self._n_levels)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                choices = ", ".join(f"{k + 1}={v!r}" for k, v in enumerate(self.cat_choices[c]))
                raise ValueError(f"row {r}: {self.cat_names[c]} code {x_cat[r, c]} is not an allowed code; "
                                 f"allowed: {choices}")
        x_cont = np.ascontiguousarray(x_cont, dtype=np.float64)
        self._check_cont(x_cont, lambda r: f"row {r}")
        return np.ascontiguousarray(x_cat, dtype=np.int32), x_cont

    def probe_rows(self, n_random: int = 61, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Valid rows for self-checks of a graph: lower corner, upper corner, centre, then
        ``n_random`` seeded uniform rows (every categorical code appears)."""
        rng = np.random.default_rng(seed)
        finite_lo = np.where(np.isfinite(self.lower), self.lower, -1.0)
        finite_hi = np.where(np.isfinite(self.upper), self.upper, 1.0)
        x_cont = np.vstack([finite_lo, finite_hi, (finite_lo + finite_hi) / 2,
                            finite_lo + rng.random((n_random, len(self.cont_names))) * (finite_hi - finite_lo)])
        n = len(x_cont)
        x_cat = (np.arange(n)[:, None] + rng.integers(0, 1 << 16, (1, len(self.cat_names)))) % self._n_levels + 1
        return np.ascontiguousarray(x_cat, dtype=np.int32), np.clip(x_cont, self.lower, self.upper)

    def decode(self, x_cat: np.ndarray, x_cont: np.ndarray) -> list[dict[str, Any]]:
        """Arrays back to configuration dicts (inverse of :meth:`encode`).

        The arrays pass :meth:`check_arrays` first: a code outside 1..K would otherwise wrap
        around (code 0 reads as the last choice) and a value out of range would come back as a
        configuration that no benchmark call accepts.
        """
        x_cat, x_cont = self.check_arrays(x_cat, x_cont)
        out = []
        for cat_row, cont_row in zip(x_cat.tolist(), x_cont.tolist()):
            d: dict[str, Any] = {n: ch[c - 1] for n, ch, c in zip(self.cat_names, self.cat_choices, cat_row)}
            d.update(zip(self.cont_names, cont_row))
            out.append(d)
        return out
