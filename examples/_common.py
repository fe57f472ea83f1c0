"""Shared by the examples: argument parsing and the one-line JSON result the CI tests read."""

from __future__ import annotations

import argparse
import json


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("scenario", nargs="?", default="smm_ps_mini", help="scenario name or folder (default smm_ps_mini)")
    p.add_argument("--seed", type=int, default=0)
    return p


def report(bench, best_config: dict, evaluations: int, **extra) -> None:
    """Print the incumbent's objective and held-out test accuracy as one JSON line."""
    values = bench.evaluate(best_config)[0]
    out = {"scenario": bench.name, "evaluations": evaluations, "best_objective": values[bench.objective_name],
           "test_at_best": values.get(bench.test_name) if bench.test_name else None, "best_config": best_config,
           **extra}
    print(json.dumps(out))
