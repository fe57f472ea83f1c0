"""Timing primitives: calibrated repeats, medians, and A/B pairs measured interleaved.

Why interleaved pairs: this suite runs on shared, noisy machines (a 2-core VM with a
training job beside it). Absolute times drift with the neighbours' load; timing path A and
path B alternately, repeat by repeat, exposes both to the same drift, so their RATIO is
stable even when the absolute numbers are not. Reported figures are medians of repeats.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timing", "calibrate", "measure", "measure_pair", "measure_many"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median (and min / max) over ``repeats`` repeats of ``number`` calls."""

    median: float
    minimum: float
    maximum: float
    repeats: int
    number: int

    def as_json(self) -> dict[str, float | int]:
        return {"median_s": self.median, "min_s": self.minimum, "max_s": self.maximum,
                "repeats": self.repeats, "calls_per_repeat": self.number}


def calibrate(fn: Callable[[], object], min_time: float) -> int:
    """Calls per repeat so that one repeat lasts at least ``min_time`` seconds (1 for slow calls)."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or number >= 1 << 22:
            return number
        number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.2))


def _one(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _timing(samples: list[float], number: int) -> Timing:
    return Timing(statistics.median(samples), min(samples), max(samples), len(samples), number)


def measure(fn: Callable[[], object], *, repeats: int = 7, min_time: float = 0.2) -> Timing:
    """Median seconds per call of ``fn`` (after one warm-up call)."""
    fn()
    number = calibrate(fn, min_time)
    return _timing([_one(fn, number) for _ in range(repeats)], number)


def measure_pair(a: Callable[[], object], b: Callable[[], object], *, repeats: int = 7,
                 min_time: float = 0.2) -> tuple[Timing, Timing]:
    """Time ``a`` and ``b`` alternately (a, b, a, b, ...) so both see the same machine load."""
    a()
    b()
    na, nb = calibrate(a, min_time), calibrate(b, min_time)
    sa, sb = [], []
    for _ in range(repeats):
        sa.append(_one(a, na))
        sb.append(_one(b, nb))
    return _timing(sa, na), _timing(sb, nb)


def measure_many(fns: dict[str, Callable[[], object]], *, repeats: int = 7,
                 min_time: float = 0.2) -> dict[str, Timing]:
    """:func:`measure_pair` for any number of paths: one repeat of each in turn, ``repeats`` rounds."""
    for fn in fns.values():
        fn()
    numbers = {name: calibrate(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_one(fn, numbers[name]))
    return {name: _timing(samples[name], numbers[name]) for name in fns}
