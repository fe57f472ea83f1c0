"""Atomic, locked registration of scenarios in the user data directory.

A scenario is built in a hidden staging folder next to its final place (same file system),
checked, and then moved in with one ``rename`` while holding an exclusive lock on
``<scenarios>/.lock``. Readers therefore see either no scenario or a complete one, two
processes importing at once serialise on the lock, and a failed build leaves nothing but a
staging folder that is removed on the way out (hidden names are never listed).

A killed import cannot remove its staging folder, so each import holds a lock on its own
folder while it lives (``flock`` on the folder, released by the kernel when the process
dies): the next import removes every staging folder nobody holds. (Windows has no such
lock on folders; there a staging folder is removed once it is a day old.)
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
    """An empty hidden folder inside the scenarios folder, held by this process and removed
    afterwards unless installed; stale ones of killed imports are removed first."""
    root = root or user_scenarios_dir()
    root.mkdir(parents=True, exist_ok=True)
    with scenario_lock(root):  # a folder is created and held in one step: the cleaner never sees it unheld
        _remove_stale(root)
        path = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        hold = _hold(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if hold is not None:
            os.close(hold)


_STALE_SECONDS = 24 * 3600  # where folders cannot be locked (Windows)


def _hold(folder: Path) -> int | None:
    """An exclusive lock on ``folder`` (its fd), or None where folders cannot be locked."""
    if os.name == "nt":  # pragma: no cover - exercised only on Windows
        return None
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _abandoned(folder: Path) -> bool:
    """Whether no living process holds staging ``folder`` (call with the scenarios lock held)."""
    if os.name == "nt":  # pragma: no cover - exercised only on Windows
        return time.time() - folder.stat().st_mtime > _STALE_SECONDS
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _remove_stale(root: Path) -> None:
    """Drop staging folders of killed imports and trash of interrupted replacements (never listed)."""
    for p in root.glob(".staging-*"):
        with contextlib.suppress(OSError):
            if _abandoned(p):
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
