"""Where a scenario's default configuration stands against uniform random configurations.

On DFS the space's default is model A unchanged (every slot "A", every scale 1), the
EvoLLM-JP analog: on the mini family it scores about 0.73 for real, while a uniform random path
scores about 0.01. An optimiser whose initial design includes the default (SMAC's, carps'
default initial designs, hpoglue's predefined points) starts at the top of the space, and its
curve says little about search. The note below is measured on the benchmark itself, so it
follows the scenario (on PS the default is an ordinary point and no note is given).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RANDOM_DRAWS", "default_configuration", "default_standing", "default_note"]

RANDOM_DRAWS = 1000
SEED = 0


def default_configuration(bench) -> dict[str, Any]:
    """The space's default configuration as a plain dict (ConfigSpace's defaults: first choice, float midpoint
    unless the space says otherwise)."""
    return dict(bench.configspace.get_default_configuration())


def default_standing(bench, draws: int = RANDOM_DRAWS, seed: int = SEED) -> dict[str, float]:
    """The default's objective beside ``draws`` seeded uniform random configurations' (on ``bench``):
    ``default``, ``random_mean``, ``random_best`` and ``share_below`` (of draws below the default)."""
    from .arrayspace import ArraySpace

    x_cat, x_cont = ArraySpace.of(bench).uniform(np.random.default_rng(seed), draws)
    random = bench.objective_array(x_cat, x_cont)
    default = bench.objective(default_configuration(bench))
    return {"default": float(default), "random_mean": float(random.mean()), "random_best": float(random.max()),
            "share_below": float((random < default).mean()), "draws": draws}


def default_note(bench) -> str | None:
    """A one-line warning when the default beats every uniform random draw, else None."""
    s = default_standing(bench)
    if s["share_below"] < 1.0:
        return None
    return (f"note: the default configuration scores {s['default']:.2f} on {bench.name}, uniform random "
            f"configurations {s['random_mean']:.2f} on average (best of {s['draws']}: {s['random_best']:.2f}); "
            f"an optimiser whose initial design includes the default starts at the top")
