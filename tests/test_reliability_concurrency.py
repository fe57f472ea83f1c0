"""Concurrency and determinism: one Benchmark shared by 8 threads answers exactly
as serial calls; outputs are bit-identical across batch sizes, repeated loads and fresh
processes; two processes importing different scenarios into one data dir both succeed.
(Three processes importing the SAME name are in test_runtime_importer.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import smm_bench_plugin as smm
from conftest import reference_predict, user_scenario_names
from smm_bench_plugin.benchmark import Benchmark


@pytest.fixture(scope="module", params=["ps", "dfs"])
def bench_and_configs(request, ps_scenario, dfs_scenario):
    bench = Benchmark(ps_scenario if request.param == "ps" else dfs_scenario)
    cs = bench.configspace
    cs.seed(11)
    return bench, [dict(c) for c in cs.sample_configuration(1000)]


def test_eight_threads_equal_serial(bench_and_configs):
    bench, configs = bench_and_configs
    serial_single = [bench.evaluate(c)[0] for c in configs]
    x_cat, x_cont = bench.encode(configs)
    serial_array = bench.evaluate_array(x_cat, x_cont)
    barrier = threading.Barrier(8)

    def worker(k: int):
        barrier.wait()  # all eight start together
        mine = list(range(k, len(configs), 8))
        singles = {i: bench.evaluate(configs[i])[0] for i in mine}
        objectives = {i: bench.objective(configs[i]) for i in mine[::3]}
        arrays = bench.evaluate_array(x_cat[k::8], x_cont[k::8])
        batch = bench.evaluate([configs[i] for i in mine])
        return k, singles, objectives, arrays, batch

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    for k, singles, objectives, arrays, batch in results:
        for i, r in singles.items():
            assert r == serial_single[i]
        for i, v in objectives.items():
            assert v == serial_single[i][bench.objective_name]
        assert np.array_equal(arrays, serial_array[k::8])
        assert batch == [serial_single[i] for i in range(k, len(configs), 8)]


@pytest.mark.parametrize("sizes", [(1, 7, 1000), (3, 64, 333, 600), (999, 1)])
def test_bit_identical_across_batch_sizes(bench_and_configs, sizes):
    bench, configs = bench_and_configs
    x_cat, x_cont = bench.encode(configs)
    whole = bench.evaluate_array(x_cat, x_cont)
    for size in sizes:
        parts = [bench.evaluate_array(x_cat[i:i + size], x_cont[i:i + size]) for i in range(0, len(configs), size)]
        assert np.array_equal(np.vstack(parts), whole), size
    assert np.array_equal(np.array([list(bench.evaluate(c)[0].values()) for c in configs[:200]]), whole[:200])


def test_bit_identical_across_loads_and_thread_settings(bench_and_configs):
    bench, configs = bench_and_configs
    x_cat, x_cont = bench.encode(configs)
    ref = bench.evaluate_array(x_cat, x_cont)
    for threads in (1, 2, 1):
        again = smm.load(bench.path, intra_op_threads=threads)
        assert np.array_equal(again.evaluate_array(x_cat, x_cont), ref)


_CHILD = """
import sys, numpy as np, smm_bench_plugin as smm
b = smm.load(sys.argv[1])
x = np.load(sys.argv[2])
n_cat = len(b.cat_names)
y = b.evaluate_array(np.ascontiguousarray(x[:, :n_cat]).astype(np.int32), np.ascontiguousarray(x[:, n_cat:]))
sys.stdout.write(y.tobytes().hex())
"""


def test_bit_identical_in_fresh_processes(bench_and_configs, tmp_path):
    bench, configs = bench_and_configs
    x_cat, x_cont = bench.encode(configs)
    ref = bench.evaluate_array(x_cat, x_cont)
    np.save(tmp_path / "x.npy", np.hstack([x_cat.astype(np.float64), x_cont]))
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(bench.path), str(tmp_path / "x.npy")],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert bytes.fromhex(out.stdout) == ref.tobytes()


_IMPORT = ("import sys; from smm_bench_plugin.importer import import_lightgbm\n"
           "import_lightgbm(sys.argv[1], sys.argv[2], name=sys.argv[3])\n")


def test_two_processes_importing_different_scenarios_into_one_data_dir(authors_ps, authors_dfs,
                                                                      isolated_data_dir):
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", _IMPORT, str(src), space, name], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for src, space, name in ((authors_ps, "ps", "a_ps"), (authors_dfs, "dfs", "b_dfs"),
                                      (authors_ps, "ps", "c_ps"))]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0, 0], [p.stderr.read()[-1500:] for p in procs]
    assert user_scenario_names() == ["a_ps", "b_dfs", "c_ps"]
    root = isolated_data_dir / "scenarios"
    assert sorted(p.name for p in root.iterdir()) == [".lock", "a_ps", "b_dfs", "c_ps"]  # no staging leftovers
    a, c = smm.load("a_ps"), smm.load("c_ps")
    cfg = dict(a.configspace.get_default_configuration())
    assert a.evaluate(cfg) == c.evaluate(cfg)
    b = smm.load("b_dfs")  # the authors' DFS model: slot codes A=0, B=1, none=2, then the scales
    x_cat, x_cont = b.encode(dict(b.configspace.get_default_configuration()))
    want = reference_predict(authors_dfs / "train_acc_ja_best_model.json", np.hstack([x_cat - 1, x_cont]))
    assert b.objective(dict(b.configspace.get_default_configuration())) == pytest.approx(want[0], abs=1e-12)
