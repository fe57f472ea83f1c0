"""One fuzzing profile for every reliability test module, and one count of what it generated.

``SMM_BENCH_FUZZ`` picks the profile:

* unset (CI and the normal test command): each test's base budget, fixed seeds; a sample small
  enough to run on every change;
* ``full``: twenty times every budget, still with fixed seeds: the run docs/reliability.md's
  figures come from (over 100,000 generated inputs; ``SMM_BENCH_FUZZ=full python -m pytest
  tests/test_reliability_*.py -rA``, about an hour on 2 busy cores);
* ``nightly``: twenty times every budget with fresh random seeds, to find what fixed seeds miss.

Every generated input a test really executes is counted in :data:`CASES` under a label; the
terminal summary (``-rA`` or not) prints the counts and their total (conftest.py).
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("SMM_BENCH_FUZZ", "")
if PROFILE not in ("", "full", "nightly"):
    raise ValueError(f"SMM_BENCH_FUZZ must be unset, 'full' or 'nightly', got {PROFILE!r}")
SCALE = 20 if PROFILE else 1
FRESH_SEEDS = PROFILE == "nightly"
CASES: Counter = Counter()


def fuzz(n: int):
    """Hypothesis settings: ``n`` examples (x20 in the full and nightly profiles), fixed seed unless nightly."""
    return settings(max_examples=n * SCALE, derandomize=not FRESH_SEEDS, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


def scaled(n: int) -> int:
    """A non-hypothesis budget (corrupted copies, subprocess runs) under the same profile."""
    return n * SCALE
