"""A scenario's space as arrays, the form every optimiser of ``compare`` and every uniform draw uses.

Apart from the optimisers so that the runtime core (the carps task's default-point note, say)
can draw uniform configurations without importing an optimiser library.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ArraySpace"]


@dataclass(frozen=True)
class ArraySpace:
    """A scenario's space as arrays: levels per categorical, bounds per float (column order)."""

    cat_names: tuple[str, ...]
    cat_choices: tuple[tuple[str, ...], ...]
    cont_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, bench) -> ArraySpace:
        enc = bench._encoder  # the scenario's validated tables (same package)
        return cls(enc.cat_names, enc.cat_choices, enc.cont_names, enc.lower.copy(), enc.upper.copy())

    @property
    def n_cat(self) -> int:
        return len(self.cat_names)

    @property
    def n_cont(self) -> int:
        return len(self.cont_names)

    @property
    def levels(self) -> np.ndarray:
        return np.array([len(c) for c in self.cat_choices], dtype=np.int64)

    def uniform(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` uniform random configurations as (x_cat codes, x_cont): each level and each float uniform."""
        x_cat = rng.integers(1, self.levels + 1, size=(n, self.n_cat)).astype(np.int32)
        return x_cat, rng.uniform(self.lower, self.upper, size=(n, self.n_cont))

    def cont_from_unit(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        return np.clip(self.lower + u * (self.upper - self.lower), self.lower, self.upper)

    def relaxed_decode(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit-cube rows [N, n_cat + n_cont] -> (x_cat codes, x_cont): category floor(u K) + 1."""
        u = np.clip(np.atleast_2d(u), 0.0, 1.0)
        k = self.levels
        x_cat = (np.minimum(np.floor(u[:, : self.n_cat] * k), k - 1) + 1).astype(np.int32)
        return x_cat, self.cont_from_unit(u[:, self.n_cat:])
