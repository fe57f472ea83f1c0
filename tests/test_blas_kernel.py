"""numpy's BLAS kernel: read from the loaded library, recorded on every collected row, and the
one machine fact besides the seed that a CMA-ES run's replay depends on (``smm_bench_plugin.blas``).

The bundled mini runs are the evidence: PS cmaes-s0 was collected on the Haswell kernel (AMD
EPYC) and cmaes-s5 on SkylakeX (an AVX-512 Intel Xeon); each replays only on its own kernel.
Forcing a kernel needs a CPU that can run it, so those cases skip on CPUs without it."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smm_bench_collection import store as S
from smm_bench_collection.collect import collect
from smm_bench_collection.replay import ReplayCheck, check_run, main, recorded_kernels, verdict
from smm_bench_collection.synthetic import synthetic_spec
from smm_bench_plugin.blas import blas_kernel, kernel_name

pytest.importorskip("threadpoolctl")
if kernel_name(blas_kernel()) is None:
    pytest.skip("numpy's BLAS here is not OpenBLAS (e.g. MKL): it has no kernel to switch", allow_module_level=True)

BUNDLED = Path(__file__).resolve().parents[1] / "collection" / "data"
KERNEL_NEEDS = {"Haswell": {"avx2", "fma"},
                "SkylakeX": {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"},
                "Nehalem": {"sse4_2"}}  # an old kernel no current CPU picks by itself: only a pin puts it there


def _cpu_flags() -> set[str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


def _needs(kernel: str, switching: bool = True) -> None:
    """Skip unless this CPU runs ``kernel`` (and, with ``switching``, numpy's OpenBLAS switches to it)."""
    if not KERNEL_NEEDS[kernel] <= _cpu_flags():
        pytest.skip(f"this CPU cannot run OpenBLAS's {kernel} kernel")
    if switching and not _switchable(kernel):
        pytest.skip(f"this OpenBLAS does not switch to {kernel} (built without DYNAMIC_ARCH?)")


@functools.lru_cache(maxsize=None)
def _switchable(kernel: str) -> bool:
    return kernel_name(_kernel_in_subprocess(kernel)) == kernel


def _env(kernel: str) -> dict[str, str]:
    return {**os.environ, "OPENBLAS_CORETYPE": kernel}


def _kernel_in_subprocess(coretype: str) -> str:
    code = "from smm_bench_plugin.blas import blas_kernel; print(blas_kernel())"
    env = _env(coretype)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_kernel_is_read_from_numpys_openblas_and_follows_the_coretype_variable():
    kernel = blas_kernel()
    assert kernel.startswith("openblas ") and kernel_name(kernel) == kernel.split()[-1]
    assert kernel_name("mkl 2024.1") is None and kernel_name(None) is None  # no OpenBLAS kernel to name
    _needs("Haswell", switching=False)  # that it switches is what this test checks
    assert kernel_name(_kernel_in_subprocess("Haswell")) == "Haswell"


def test_without_threadpoolctl_the_kernel_is_unknown_not_guessed(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import now raises ImportError
    assert blas_kernel() is None


def test_every_collected_row_records_the_kernel_and_replay_orders_them_by_round(tmp_path):
    collect("ps", synthetic_spec("ps"), "cmaes", 32, tmp_path / "run", seed=3, progress=False)
    rows = S.read_dataset(tmp_path / "run").to_pylist()
    assert {json.loads(r["versions"])["blas"] for r in rows} == {blas_kernel()}
    older = [{**r, "versions": json.dumps({"numpy": "2"})} if r["generation"] == 1 else r for r in rows]
    assert recorded_kernels(older) == [blas_kernel(), "unrecorded"]
    check = check_run(tmp_path / "run")
    assert check.reproducible and check.blas == blas_kernel() and check.recorded_blas == [blas_kernel()]


def test_a_divergent_run_names_the_kernel_to_replay_on():
    base = dict(folder="f", sampler="cmaes", seed=0, stored_rounds=63, matched_rounds=1, max_deviation=0.7,
                blas="openblas 0.3.31 SkylakeX")
    recorded = verdict(ReplayCheck(**base, recorded_blas=["openblas 0.3.31 Haswell"]))
    assert recorded.endswith("its rows were collected on openblas 0.3.31 Haswell: pass --blas-kernel Haswell")
    unrecorded = verdict(ReplayCheck(**base, recorded_blas=["unrecorded"]))
    assert unrecorded.endswith("try --blas-kernel Haswell")
    same = verdict(ReplayCheck(**base, recorded_blas=["openblas 0.3.31 SkylakeX"]))
    assert "--blas-kernel" not in same  # collected on this kernel: the kernel is not the reason
    upgraded = verdict(ReplayCheck(**base, recorded_blas=["openblas 0.3.27 SkylakeX"]))
    assert "--blas-kernel" not in upgraded  # another OpenBLAS version on the same kernel is no hint either
    tpe = verdict(ReplayCheck(**{**base, "sampler": "tpe"}, recorded_blas=["openblas 0.3.31 Haswell"]))
    assert "--blas-kernel" not in tpe  # TPE draws the same on every kernel


@pytest.mark.slow  # replays stored runs in processes pinned to each kernel
@pytest.mark.parametrize("kernel, own, other", [
    ("Haswell", ["mini_ps/cmaes-s0", "mini_dfs/catcma-s0", "mini_ps/random_modelwise-s0"], "mini_ps/cmaes-s5"),
    ("SkylakeX", ["mini_ps/cmaes-s5", "mini_dfs/catcma-s2", "mini_ps/random_modelwise-s0"], "mini_ps/cmaes-s0")])
def test_a_bundled_cma_run_replays_only_on_the_kernel_it_was_collected_on(kernel, own, other, capfd):
    """PS and DFS CMA runs replay on their own kernel only; a random run replays on both."""
    _needs(kernel)
    status = main(["--blas-kernel", kernel, "--json", *(str(BUNDLED / f) for f in [*own, other])])
    *mine, theirs = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert status == 1  # the other kernel's run does not replay
    for check in mine:
        assert check["reproducible"] and check["matched_rounds"] == check["stored_rounds"] > 30
        assert kernel_name(check["blas"]) == kernel
    assert not theirs["reproducible"] and theirs["matched_rounds"] == 1 and theirs["max_deviation"] > 0.5


def test_a_kernel_openblas_does_not_know_is_refused_by_name(capfd):
    status = main(["--blas-kernel", "NoSuchKernel", str(BUNDLED / "mini_ps" / "cmaes-s0")])
    err = capfd.readouterr().err
    assert status == 2
    assert "error: --blas-kernel NoSuchKernel: numpy's BLAS runs openblas" in err and "OPENBLAS_CORETYPE=NoSuchKernel" in err


_TRAJECTORIES = """
import hashlib, json
from smm_bench_collection.samplers import make_sampler
from smm_bench_collection.synthetic import SyntheticEvaluator
out = {}
for space, name in [("ps", "random"), ("ps", "random_modelwise"), ("ps", "cmaes"), ("ps", "sepcma"), ("ps", "tpe"),
                    ("dfs", "random"), ("dfs", "random_stratified"), ("dfs", "catcma"), ("dfs", "tpe")]:
    ev = SyntheticEvaluator(space)
    sampler, digest = make_sampler(name, space, 7), hashlib.sha1()
    for _ in range(12):
        configs = sampler.ask()
        digest.update(json.dumps(configs, sort_keys=True).encode())
        sampler.tell(configs, [ev.evaluate(c).objective.accuracy for c in configs])
    out[f"{space}/{name}"] = digest.hexdigest()
print(json.dumps(out))
"""


def test_exactly_the_full_covariance_samplers_depend_on_the_kernel():
    """12 rounds of every sampler on a synthetic objective, once per kernel: BLAS_DEPENDENT is measured."""
    from smm_bench_collection.samplers import BLAS_DEPENDENT

    _needs("Haswell")
    _needs("SkylakeX")
    runs = {}
    for kernel in ("Haswell", "SkylakeX"):
        env = _env(kernel)
        runs[kernel] = json.loads(subprocess.run([sys.executable, "-c", _TRAJECTORIES], env=env, capture_output=True,
                                                 text=True, check=True).stdout)
    differ = {key.split("/")[1] for key in runs["Haswell"] if runs["Haswell"][key] != runs["SkylakeX"][key]}
    assert differ == set(BLAS_DEPENDENT)
    from smm_bench_collection.samplers import SAMPLERS

    assert {key.split("/")[1] for key in runs["Haswell"]} == set(SAMPLERS)  # every sampler was run


def _claim_kernel(folder: Path, kernel: str) -> None:
    """Rewrite every row's recorded kernel (what a store collected on another machine looks like)."""
    import pyarrow.parquet as pq

    (shard,) = S._data_files(folder / "shards")
    table = pq.read_table(shard)
    versions = [json.dumps({**json.loads(v), "blas": kernel}) for v in table.column("versions").to_pylist()]
    pq.write_table(table.set_column(table.schema.get_field_index("versions"), "versions", [versions]), shard)


def _claim_kernel_from(folder: Path, generation: int, kernel: str) -> None:
    """As :func:`_claim_kernel`, for the rows of ``generation`` and later only."""
    import pyarrow.parquet as pq

    (shard,) = S._data_files(folder / "shards")
    table = pq.read_table(shard)
    versions = [json.dumps({**json.loads(v), "blas": kernel}) if g >= generation else v
                for v, g in zip(table.column("versions").to_pylist(), table.column("generation").to_pylist())]
    pq.write_table(table.set_column(table.schema.get_field_index("versions"), "versions", [versions]), shard)


def _kernel_warnings(recwarn) -> list[str]:
    return [str(w.message) for w in recwarn if "resumes on" in str(w.message)]


@pytest.mark.parametrize("sampler, warned", [("cmaes", True), ("random", False)])
def test_resuming_a_cma_run_on_another_kernel_says_so(tmp_path, sampler, warned, recwarn):
    run = tmp_path / "run"
    here = blas_kernel()
    collect("ps", synthetic_spec("ps"), sampler, 16, run, seed=1, progress=False)
    collect("ps", synthetic_spec("ps"), sampler, 24, run, seed=1, progress=False)  # same kernel: silent
    assert _kernel_warnings(recwarn) == []
    _claim_kernel(run, f"openblas 0.0 {kernel_name(here)}")  # an OpenBLAS upgrade on the same kernel: silent
    collect("ps", synthetic_spec("ps"), sampler, 28, run, seed=1, progress=False)
    assert _kernel_warnings(recwarn) == []
    _claim_kernel(run, "openblas 0.0 Elsewhere")
    collect("ps", synthetic_spec("ps"), sampler, 32, run, seed=1, progress=False)
    messages = _kernel_warnings(recwarn)
    if warned:
        (message,) = messages
        assert f"cmaes seed 1 was collected on openblas 0.0 Elsewhere and resumes on {here}" in message
        assert message.endswith("pass --blas-kernel Elsewhere (or start the process with OPENBLAS_CORETYPE=Elsewhere)")
    else:  # random draws do not depend on the kernel
        assert messages == []
    assert len(S.read_dataset(run)) == 32  # the run went on either way


def test_the_warning_reads_the_kernel_of_the_latest_round(tmp_path, recwarn):
    """Rounds on Elsewhere, then back on this machine's kernel: resuming here is silent."""
    run = tmp_path / "run"
    collect("ps", synthetic_spec("ps"), "cmaes", 48, run, seed=2, progress=False)
    _claim_kernel(run, "openblas 0.0 Elsewhere")
    _claim_kernel_from(run, 1, blas_kernel())  # rounds 1 and 2 were written here
    collect("ps", synthetic_spec("ps"), "cmaes", 64, run, seed=2, progress=False)
    assert _kernel_warnings(recwarn) == []
    _claim_kernel_from(run, 3, "openblas 0.0 Elsewhere")  # now the latest round is Elsewhere's
    collect("ps", synthetic_spec("ps"), "cmaes", 80, run, seed=2, progress=False)
    assert len(_kernel_warnings(recwarn)) == 1


_COMPARE = """
import hashlib, json
import numpy as np
from smm_bench_plugin import load
from smm_bench_plugin.compare import compare
out = {}
for scenario, names in (("smm_ps_mini", ["random", "cmaes", "sepcma", "tpe", "de"]), ("smm_dfs_mini", ["catcma"])):
    for run in compare(load(scenario), names, budget=160, seeds=[0], jobs=1).runs:
        out[run.optimizer] = hashlib.sha1(np.asarray(run.objective).tobytes()).hexdigest()
print(json.dumps(out))
"""


def test_compare_runs_depend_on_the_kernel_for_exactly_the_same_optimisers():
    """What docs/compare.md says: seeds fix runs, except CMA-ES and CatCMA across kernels."""
    from smm_bench_collection.samplers import BLAS_DEPENDENT

    _needs("Haswell")
    _needs("SkylakeX")
    runs = {k: json.loads(subprocess.run([sys.executable, "-c", _COMPARE], env=_env(k), capture_output=True,
                                         text=True, check=True).stdout) for k in ("Haswell", "SkylakeX")}
    assert {name for name in runs["Haswell"] if runs["Haswell"][name] != runs["SkylakeX"][name]} == set(BLAS_DEPENDENT)


def _kernels_of(folder: Path) -> set[str]:
    return {json.loads(v)["blas"] for v in S.read_dataset(folder).column("versions").to_pylist()}


@pytest.mark.slow  # collects and replays in pinned processes
def test_collect_pinned_to_a_kernel_records_it_and_replays_on_it(tmp_path, capfd):
    """``smm-bench collect --blas-kernel K`` reruns itself under OPENBLAS_CORETYPE=K: a CMA-ES run
    collected so records K on every row and replays from its seed on K."""
    from smm_bench_plugin.cli import main as cli

    _needs("Nehalem")
    run = tmp_path / "cmaes-s4"
    assert cli(["collect", "--space", "ps", "--family", "synthetic", "--sampler", "cmaes", "--budget", "40",
                "--seed", "4", "--out", str(run), "--blas-kernel", "Nehalem"]) == 0
    assert {kernel_name(k) for k in _kernels_of(run)} == {"Nehalem"}
    capfd.readouterr()
    assert main(["--blas-kernel", "Nehalem", "--json", str(run)]) == 0
    check = json.loads(capfd.readouterr().out)
    assert check["reproducible"] and check["matched_rounds"] == check["stored_rounds"] == 3


@pytest.mark.slow  # compare and plan rerun in pinned processes
def test_compare_and_plan_run_on_the_kernel_they_are_given(tmp_path, capfd):
    """compare's summary and the plan's rows name the pinned kernel; the plan's --hours stop exits 3."""
    from smm_bench_plugin.cli import main as cli

    _needs("Nehalem")
    out = tmp_path / "compare"
    assert cli(["compare", "--scenario", "smm_ps_mini", "--optimizers", "cmaes", "--budget", "8", "--seeds", "1",
                "--jobs", "1", "--no-plot", "--quiet", "--out", str(out), "--blas-kernel", "Nehalem"]) == 0
    assert kernel_name(json.loads((out / "summary.json").read_text())["library_versions"]["blas"]) == "Nehalem"
    status = subprocess.call([sys.executable, "-m", "smm_bench_collection.plan", "--space", "ps", "--family",
                              "synthetic", "--data", str(tmp_path / "data"), "--hours", "0.0001", "--no-progress",
                              "--blas-kernel", "Nehalem"])
    assert status == 3  # stopped by --hours, the plan unfinished
    assert {kernel_name(k) for k in _kernels_of(tmp_path / "data" / "mini_ps" / "random-s0")} == {"Nehalem"}


def test_a_kernel_openblas_does_not_take_stops_collect_before_it_starts(tmp_path, capfd):
    from smm_bench_plugin.cli import main as cli

    run = tmp_path / "run"
    assert cli(["collect", "--space", "ps", "--family", "synthetic", "--sampler", "cmaes", "--budget", "8",
                "--out", str(run), "--blas-kernel", "NoSuchKernel"]) == 2
    assert "--blas-kernel NoSuchKernel: numpy's BLAS runs openblas" in capfd.readouterr().err
    assert not run.exists()  # nothing was collected on a kernel nobody asked for


def _pinned_plan(data: Path, ignore_hangup: bool = False):
    """A pinned plan (parent) and, once it has started collecting, its rerun's pid."""
    import signal
    import time

    def dispositions():
        # whatever pytest inherited (a shell starts a background job with SIGINT ignored), the
        # plan starts as from a terminal; under nohup, with SIGHUP ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN if ignore_hangup else signal.SIG_DFL)

    parent = subprocess.Popen([sys.executable, "-m", "smm_bench_collection.plan", "--space", "ps", "--family",
                               "synthetic", "--data", str(data), "--no-progress", "--blas-kernel", "Nehalem"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=dispositions)
    try:
        deadline = time.monotonic() + 120
        while not (data / "mini_ps" / "random-s0").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # the rerun has started collecting
        (child,) = [int(p) for p in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()]
    except BaseException:
        parent.kill()
        raise
    return parent, child


def _kill_all(parent: subprocess.Popen, *pids: int) -> None:
    """Kill and reap ``parent``, then kill ``pids`` (its rerun and workers), whatever a test left running."""
    import signal

    parent.kill()
    parent.wait()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_stopping_a_pinned_command_stops_its_rerun_too(tmp_path, signame):
    """``kill <pid>`` (or an interrupt) of the command a user started reaches the rerun that does the
    work, once: nothing is left running without its parent, holding the store's lock."""
    import signal

    _needs("Nehalem")
    parent, child = _pinned_plan(tmp_path / "data")
    try:
        parent.send_signal(getattr(signal, signame))  # to the parent only, not to its process group
        status = parent.wait(timeout=60)
        stopped = not Path(f"/proc/{child}").exists()  # the parent waited for it: gone, not orphaned
    finally:
        _kill_all(parent, child)
    assert stopped
    # SIGTERM kills the rerun (143); Python turns SIGINT into KeyboardInterrupt, which ends in 130 or 1
    assert status == 128 + signal.SIGTERM if signame == "SIGTERM" else status in (1, 128 + signal.SIGINT)


def test_a_pinned_command_under_nohup_survives_a_hang_up(tmp_path):
    """A hang-up the user's command ignores (``nohup``) is not turned into a stop of its rerun."""
    import signal
    import time

    _needs("Nehalem")
    parent, child = _pinned_plan(tmp_path / "data", ignore_hangup=True)
    try:
        parent.send_signal(signal.SIGHUP)
        time.sleep(2)
        both_alive = parent.poll() is None and Path(f"/proc/{child}").exists()
        parent.send_signal(signal.SIGTERM)  # still stoppable the usual way
        status = parent.wait(timeout=60)
    finally:
        _kill_all(parent, child)
    assert both_alive
    assert status == 128 + signal.SIGTERM


def _forwarding_driver(tmp_path, rerun_body: str) -> tuple[subprocess.Popen, Path]:
    """A process running ``blas._run_forwarding_signals`` (grace period 1 s) on a Python rerun that first executes
    ``rerun_body``, then writes the pids of itself and of a worker it started into ``ready`` and
    sleeps; returns the driver once ``ready`` exists (the pids are in it)."""
    import signal
    import time

    ready = tmp_path / "ready"
    rerun = ("import os, pathlib, signal, subprocess, sys, time; " + rerun_body + "; "
             "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
             f"tmp = pathlib.Path({str(ready)!r} + '.tmp'); tmp.write_text(f'{{os.getpid()}} {{w.pid}}'); "
             f"tmp.rename({str(ready)!r}); time.sleep(120)")
    driver = ("import sys; from smm_bench_plugin import blas; blas.INTERRUPT_GRACE_S = 1.0; "
              f"print(blas._run_forwarding_signals([sys.executable, '-c', {rerun!r}], {{}}))")
    parent = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started = time.monotonic()
    while not ready.exists() and time.monotonic() - started < 60 and parent.poll() is None:
        time.sleep(0.05)
    return parent, ready


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody has reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.parametrize("ignored, last", [(("SIGINT",), "SIGTERM"), (("SIGINT", "SIGTERM"), "SIGKILL")])
def test_a_rerun_that_ignores_an_interrupt_is_terminated_after_the_grace_period(tmp_path, ignored, last):
    """Ctrl-C always stops the command: a rerun still running INTERRUPT_GRACE_S after the forwarded
    interrupt (here one that ignores it outright) gets SIGTERM, and one that ignores SIGTERM too
    gets SIGKILL as long after; the command ends as an interrupted one does."""
    import signal
    import time

    _needs_posix_groups()
    body = "; ".join(f"signal.signal(signal.{name}, signal.SIG_IGN)" for name in ignored)
    started = time.monotonic()
    out, err, worker_gone = _stop(_forwarding_driver(tmp_path, body), signal.SIGINT)
    assert int(out) == -signal.SIGINT  # as pin_kernel receives it: an interrupted rerun (exit 130)
    assert "did not stop within 1 s of the interrupt; sending it SIGTERM" in err
    assert ("did not stop within 1 s of SIGTERM; sending it SIGKILL" in err) == (last == "SIGKILL")
    assert worker_gone  # the worker the rerun started went with it
    assert time.monotonic() - started < 60  # ended by the escalation, not by the rerun's sleep


def test_a_stop_reaches_the_workers_the_rerun_started(tmp_path):
    """``kill <pid>`` of a pinned command reaches its rerun's whole process group (``--jobs``
    workers), as a Ctrl-C at a terminal would: no worker is left computing without its parent."""
    import signal

    _needs_posix_groups()
    out, _, worker_gone = _stop(_forwarding_driver(tmp_path, "pass"), signal.SIGTERM)
    assert int(out) == -signal.SIGTERM
    assert worker_gone


def _stop(driver: tuple[subprocess.Popen, Path], signum: int) -> tuple[str, str, bool]:
    """Send ``signum`` to the driver only; its stdout and stderr, and whether the rerun's worker ended."""
    parent, ready = driver
    try:
        _, worker = (int(p) for p in ready.read_text().split())
        parent.send_signal(signum)
        out, err = parent.communicate(timeout=60)
        return out, err, _wait_gone(worker)
    finally:
        _kill_all(parent, *(int(p) for p in (ready.read_text().split() if ready.exists() else [])))


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def _needs_posix_groups() -> None:
    if not hasattr(os, "killpg") or not Path("/proc/self/stat").exists():
        pytest.skip("process groups and /proc are needed")


def test_cached_surrogate_runs_are_keyed_by_kernel_and_cpu(tmp_path):
    """A cache of CMA-ES runs (finalists) made under one kernel must not be read back under another:
    the folder name carries the kernel and the CPU model."""
    from smm_bench_plugin.blas import cpu_model, path_tag

    here = path_tag()
    assert here.startswith(f"{kernel_name(blas_kernel())}-") and here.endswith(
        "-".join(w for w in "".join(c if c.isalnum() else " " for c in cpu_model().lower()).split())[:40].strip("-"))
    _needs("Nehalem")
    code = "from smm_bench_plugin.blas import path_tag; print(path_tag())"
    there = subprocess.run([sys.executable, "-c", code], env=_env("Nehalem"), capture_output=True, text=True,
                           check=True).stdout.strip()
    assert there.startswith("Nehalem-") and there != here and there.split("-", 1)[1] == here.split("-", 1)[1]
