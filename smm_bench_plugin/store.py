"""Atomic, locked registration of scenarios in the user data directory.

A scenario is built in a hidden staging folder next to its final place (same file system),
checked, and then moved in with one ``rename`` while holding an exclusive lock on
``<scenarios>/.lock``. Readers therefore see either no scenario or a complete one, two
processes importing at once serialise on the lock, and a failed build leaves nothing but a
staging folder that is removed on the way out (hidden names are never listed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .paths import user_scenarios_dir

__all__ = ["staging_folder", "install", "scenario_lock", "check_name"]


def check_name(name: str) -> str:
    if not name or name.startswith((".", "_")) or not all(c.isalnum() or c in "_-." for c in name):
        raise ValueError(f"invalid scenario name {name!r}: use letters, digits, '_', '-', '.' "
                         "and do not start with '.' or '_'")
    return name


@contextlib.contextmanager
def scenario_lock(root: Path | None = None) -> Iterator[None]:
    """Exclusive inter-process lock on the scenarios folder."""
    root = root or user_scenarios_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as fh:
        if os.name == "nt":  # pragma: no cover - exercised only on Windows
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def staging_folder(root: Path | None = None) -> Iterator[Path]:
    """An empty hidden folder inside the scenarios folder, removed afterwards unless installed."""
    root = root or user_scenarios_dir()
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_STALE_SECONDS = 24 * 3600


def _remove_stale(root: Path) -> None:
    """Drop staging/trash folders left by killed processes (older than a day; never listed)."""
    now = time.time()
    for p in root.glob(".staging-*"):
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".trash-*"):
        shutil.rmtree(p, ignore_errors=True)


def install(staging: Path, name: str, *, force: bool = False, root: Path | None = None) -> Path:
    """Move a complete staging folder to ``<scenarios>/<name>`` atomically, under the lock."""
    check_name(name)
    root = root or user_scenarios_dir()
    final = root / name
    with scenario_lock(root):
        _remove_stale(root)
        if final.exists():
            if not force:
                raise FileExistsError(f"scenario {name!r} already exists at {final}; pass force=True "
                                      "(CLI: --force) to replace it")
            trash = root / f".trash-{name}-{uuid.uuid4().hex[:8]}"
            os.rename(final, trash)
            try:
                os.rename(staging, final)
            except BaseException:
                os.rename(trash, final)
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(staging, final)
    return final
