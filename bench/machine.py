"""What the numbers were measured on: CPU, cores, load, memory, library versions."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from smm_bench_plugin.blas import cpu_model, cpu_slug

__all__ = ["describe", "slug"]

_PACKAGES = ("smm-bench-plugin", "numpy", "onnxruntime", "onnx", "lightgbm", "ConfigSpace", "torch", "yahpo-gym")


def _mem_gb() -> float | None:
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        return round(kb / 1024 ** 2, 1)
    except (OSError, AttributeError):
        return None


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def describe(repo: Path) -> dict:
    """A JSON-able description of this machine and software, for the results file and README."""
    versions = {}
    for p in _PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": _mem_gb(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": _git_commit(repo),
    }


def slug(machine: dict) -> str:
    """A file-name-safe machine label, e.g. ``amd-epyc-2c``."""
    return f"{cpu_slug(machine['cpu_model'])}-{machine['logical_cores']}c"
