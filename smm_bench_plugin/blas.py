"""Which BLAS kernel numpy runs on: the one machine fact that changes a CMA-ES trajectory.

CMA-ES draws its samples through the eigendecomposition of its covariance matrix
(``numpy.linalg.eigh``, i.e. LAPACK inside numpy's OpenBLAS). After the first update that
matrix still has a large eigenspace of (nearly) equal eigenvalues, and LAPACK may return any
orthonormal basis of it. OpenBLAS picks a CPU-specific kernel at load time (``Haswell`` on
AVX2 CPUs such as AMD EPYC before Zen 4; ``SkylakeX``, ``Cooperlake`` or ``SapphireRapids`` on
AVX-512 Intel Xeons); the kernels round differently, so they return different bases. The
search distribution is the same, but the draws are not: the same seed walks a different
trajectory on a different kernel, from the second generation on. Measured on the bundled mini
runs with ``python -m smm_bench_collection.replay --blas-kernel K``: every CMA-ES and CatCMA
run replays from its seed on the kernel it was collected on, and none replays on the other one.

``OPENBLAS_CORETYPE=Haswell`` (read once, when numpy loads OpenBLAS, so it must be in the
environment before the process starts) pins the kernel on any x86 CPU with AVX2. Results of
model-free samplers (random search) do not depend on it. The commands that run CMA-ES or
CatCMA (``smm-bench collect``, ``smm-bench compare``, the collection plan and replay) take
``--blas-kernel K``, which reruns the command under that variable (:func:`pin_kernel`).

The kernel is not the whole story across CPUs: the same model checked with the kernel pinned to
``Haswell`` on an AMD EPYC and on an AVX-512 Intel Xeon walked the same paths for most seeds but
not all (2 of 45 PS runs, 4 of 55 DFS runs in the end-point records of docs/endpoints.md), so
:func:`with_kernel` records the CPU model beside the kernel.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["blas_kernel", "cpu_model", "cpu_slug", "path_tag", "kernel_name", "with_kernel", "pin_kernel", "CORETYPE_VARIABLE",
           "COMMON_KERNELS"]

CORETYPE_VARIABLE = "OPENBLAS_CORETYPE"
COMMON_KERNELS = ("Haswell", "SkylakeX")  # OpenBLAS's AVX2 and AVX-512 x86 kernels


def blas_kernel() -> str | None:
    """numpy's BLAS as ``"<library> <version> <kernel>"``, e.g. ``"openblas 0.3.31.188.0 SkylakeX"``.

    None when ``threadpoolctl`` (>= 3.5 reads numpy 2's ``scipy_openblas``) is not installed or
    no BLAS is identified. When several BLAS libraries are loaded (torch or scipy bring their
    own), the one shipped inside numpy's own folder is numpy's; otherwise a sole one is taken.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    import numpy as np

    np.linalg.eigh(np.eye(2))  # numpy loads its BLAS lazily on some builds; make sure it is loaded
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    numpy_dir = Path(np.__file__).resolve().parent
    own = [lib for lib in blas if _inside_numpy(Path(lib.get("filepath", "")), numpy_dir)]
    chosen = own or (blas if len(blas) == 1 else [])
    if not chosen:
        return None
    lib = chosen[0]
    parts = [lib.get("internal_api"), lib.get("version"), lib.get("architecture")]
    return " ".join(str(p) for p in parts if p)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows of it."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_slug(model: str) -> str:
    """A CPU model name as a file-name-safe label, e.g. ``intel-r-xeon-r-processor``."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40] or "cpu"


def path_tag() -> str:
    """This process's kernel and CPU as one folder name, e.g. ``SkylakeX-intel-r-xeon-r-processor``:
    what a cache of CMA-ES or CatCMA runs must be keyed by besides the model (see the module's
    docstring), so a run made under another kernel or on another CPU is never read back as this one's."""
    return f"{kernel_name(blas_kernel()) or 'other-blas'}-{cpu_slug(cpu_model())}"


def kernel_name(blas: str | None) -> str | None:
    """The OpenBLAS kernel of a :func:`blas_kernel` string (``"SkylakeX"``), or None for another
    BLAS (MKL has no kernel to name) or an unknown one. Kernels, not library versions, decide
    whether a CMA-ES run replays, so comparisons use this name."""
    parts = (blas or "").split()
    return parts[2] if len(parts) == 3 and parts[0] == "openblas" else None


def with_kernel(versions: dict[str, str]) -> dict[str, str]:
    """``versions`` plus ``"blas"`` (numpy's BLAS, when it can be read) and ``"cpu"`` (its model)."""
    kernel = blas_kernel()
    return {**versions, **({"blas": kernel} if kernel is not None else {}), "cpu": cpu_model()}


def pin_kernel(kernel: str, module: str, argv: list[str]) -> int | None:
    """Keep the command ``python -m module argv`` on OpenBLAS kernel ``kernel``.

    Why a second process: OpenBLAS picks its kernel once, when numpy loads it, so a running
    process cannot switch. Outside ``OPENBLAS_CORETYPE=kernel`` this runs the same command again
    under it and returns that process's exit status (2, with the reason, when the CPU lacks the
    kernel's instructions). Inside, it returns None when numpy runs ``kernel``, so the caller goes
    on, and 2 with a message naming the kernel when OpenBLAS ignored the name (it silently falls
    back to the CPU's own kernel for a name it does not know). Child processes (``--jobs``, Ray
    workers started here) inherit the variable. A rerun stopped by a signal passed on to it
    returns 128 + the signal's number, the shell's convention (130 for a Ctrl-C, also when the
    rerun had to be terminated after it).
    """
    if os.environ.get(CORETYPE_VARIABLE) != kernel:
        # PYTHONSAFEPATH (Python >= 3.11; older versions ignore it): the rerun does not put the
        # cwd first on sys.path, so a folder there named like the package cannot shadow it
        command = [sys.executable, "-m", module, *argv]
        env = {**os.environ, CORETYPE_VARIABLE: kernel, "PYTHONSAFEPATH": "1"}
        status = _run_forwarding_signals(command, env)
        if status >= 0:
            return status
        if -status in _FORWARDED:  # stopped as asked (Ctrl-C, kill, hang-up), not by the kernel
            return 128 - status
        try:  # killed by a signal: SIGILL when this CPU lacks the kernel's instructions
            name = signal.Signals(-status).name
        except ValueError:  # a signal number without a name (real-time signals)
            name = f"signal {-status}"
        print(f"error: {module} under {CORETYPE_VARIABLE}={kernel} died of {name}"
              + (f": this CPU cannot run the {kernel} kernel" if name == "SIGILL" else ""), file=sys.stderr)
        return 2
    running = blas_kernel()
    if (kernel_name(running) or "").lower() != kernel.lower():
        print(f"error: --blas-kernel {kernel}: numpy's BLAS runs {running or 'an unidentified kernel'} under "
              f"{CORETYPE_VARIABLE}={kernel} (OpenBLAS ignores a name it does not know; reading the kernel "
              "needs threadpoolctl)", file=sys.stderr)
        return 2
    return None


# signals passed on to the rerun (Windows has no SIGHUP)
_FORWARDED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
# seconds a rerun has to end after an interrupt before it is sent SIGTERM, and after that SIGKILL
INTERRUPT_GRACE_S = 30.0


def _run_forwarding_signals(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` in a session of its own and wait; SIGINT, SIGTERM and SIGHUP sent to this
    process are passed on to its process group (those this process ignores stay ignored).

    Why: the rerun does the work, so stopping the command the user started (Ctrl-C, ``kill``, a
    closed terminal) must stop the rerun too, not leave it running without its parent and holding
    a store's lock. In its own session the rerun hears the terminal only through this process, so
    a Ctrl-C reaches it once, not twice; it is passed on to the whole group, as the terminal would,
    so the workers the rerun started (``--jobs``) hear it too. The handlers are in place before the
    rerun exists, so a signal that arrives while it starts is passed on as soon as it does.

    An interrupt is a request the rerun's Python turns into ``KeyboardInterrupt``, which code can
    delay (an import, a library call it lands in, a pool waiting for its workers); a group still
    running :data:`INTERRUPT_GRACE_S` seconds after one is sent SIGTERM, and SIGKILL as long again
    after that (a handler can delay SIGTERM too), so a Ctrl-C always stops the command. It then
    returns as an interrupted rerun does (``-SIGINT``). Nothing is lost: stores write each row as
    it is evaluated and survive SIGKILL.
    """
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        return subprocess.call(command, env=env)
    child: subprocess.Popen | None = None
    pending: list[int] = []
    ended = threading.Event()  # set when the rerun has been waited for
    escalating: list[bool] = []  # an interrupt has started the countdown to SIGTERM
    escalated: list[int] = []  # the signals sent because an interrupt was not obeyed

    def signal_group(signum: int) -> None:
        try:
            if hasattr(os, "killpg"):  # the rerun leads its own group (start_new_session)
                os.killpg(child.pid, signum)
            else:
                child.send_signal(signum)
        except ProcessLookupError:  # everything in the group has ended
            pass

    def escalate() -> None:
        after = "the interrupt"
        for signum in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
            if ended.wait(INTERRUPT_GRACE_S):
                return
            name = signal.Signals(signum).name
            print(f"the command did not stop within {INTERRUPT_GRACE_S:g} s of {after}; sending it {name}",
                  file=sys.stderr)
            escalated.append(signum)
            signal_group(signum)
            after = name

    def deliver(signum: int) -> None:
        signal_group(signum)
        if signum == signal.SIGINT and not escalating:
            escalating.append(True)  # before the thread exists: a second Ctrl-C starts no second one
            threading.Thread(target=escalate, daemon=True).start()

    def forward(signum: int, _frame) -> None:
        if child is None:
            pending.append(signum)
        else:
            deliver(signum)

    # A signal this process ignores (SIGHUP under nohup) stays ignored: the rerun inherits the
    # disposition, and forwarding it would stop a job the user asked to survive a hang-up.
    caught = [s for s in _FORWARDED if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {s: signal.signal(s, forward) for s in caught}
    try:
        child = subprocess.Popen(command, env=env, start_new_session=True)
        for signum in pending:
            deliver(signum)
        status = child.wait()
        return -signal.SIGINT if escalated and status < 0 else status
    finally:
        ended.set()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _inside_numpy(path: Path, numpy_dir: Path) -> bool:
    """numpy wheels keep their OpenBLAS in ``numpy.libs`` beside the package (or inside it)."""
    try:
        path = path.resolve()
    except OSError:
        return False
    return numpy_dir in path.parents or path.parent.name == f"{numpy_dir.name}.libs"
