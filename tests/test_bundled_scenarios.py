"""The scenarios a plain install brings: real surrogates of the mini twin, with their reports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import smm_bench_plugin as smm
from smm_bench_plugin.paths import bundled_scenarios_dir

REPO = Path(__file__).resolve().parents[1]
BUNDLED = ("smm_ps_mini", "smm_dfs_mini")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_is_a_real_mini_surrogate_with_its_report(name):
    folder = bundled_scenarios_dir() / name
    assert (folder / "model.onnx").stat().st_size <= 25 * 2**20  # each bundled ONNX <= 25 MB
    bench = smm.load(name)
    meta = bench.meta
    space = meta["space"]
    assert name == f"smm_{space}_mini" == meta["name"] == bench.name
    assert [t.role for t in bench.targets] == ["objective", "test", "cost"]
    prov = meta["provenance"]
    assert prov["family_id"] == "mini-v1" and prov["dataset"] == f"collection/data/mini_{space}"
    # trained on the committed dataset: never more rows than it holds, and every sampler in it exists there
    from smm_bench_collection.store import read_stores

    table = read_stores(REPO / prov["dataset"])
    assert prov["rows"] <= table.num_rows
    assert set(prov["samplers"]) <= set(table.column("sampler").to_pylist())
    q = meta["quality"]["targets"]
    for target in bench.targets:
        assert -1.0 <= q[target.name]["kendall_tau"] <= 1.0 and q[target.name]["n"] >= 10
    for target in bench.targets[:2]:  # the accuracies: their noise ceiling and per-sampler quality
        t = q[target.name]
        assert 0.0 < t["noise_ceiling_r2"] <= 1.0
        assert sum(g["n"] for g in t["by_sampler"].values()) == t["n"]
        assert set(t["by_sampler"]) <= set(prov["samplers"])
    report = (folder / "REPORT.md").read_text()
    assert f"# Validity report: {name}" in report and (folder / "figure1.png").stat().st_size > 0
    assert json.loads((folder / "report.json").read_text())["scenario"] == name
    configs = [dict(c) for c in bench.configspace.sample_configuration(64)]
    configs.append(dict(bench.configspace.get_default_configuration()))
    values = np.array([[r[t.name] for t in bench.targets] for r in bench.evaluate(configs)])
    assert np.isfinite(values).all() and (values[:, :2] >= 0).all() and (values[:, :2] <= 1).all()
    assert (values[:, 2] > 0).all()  # a true evaluation always takes time


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_objective_graph_and_thread_settings(name):
    """The bundled scenarios ship objective.onnx; with 1 thread it equals the full graph's
    objective column bit for bit at every batch size. With 2 threads onnxruntime may split these
    >1,000-tree ensembles across threads, which may move the last bit, never more."""
    bench = smm.load(name)
    assert (bench.path / "objective.onnx").stat().st_size <= 25 * 2**20 and bench._objective_feed is not None
    cs = bench.configspace
    cs.seed(3)
    x_cat, x_cont = bench.encode([dict(c) for c in cs.sample_configuration(600)])
    col = bench.target_names.index(bench.objective_name)
    full = bench.evaluate_array(x_cat, x_cont)
    for size in (1, 64, 600):
        got = np.concatenate([bench.objective_array(x_cat[i:i + size], x_cont[i:i + size]) for i in range(0, 600, size)])
        assert np.array_equal(got, full[:, col]), size
    two = smm.load(name, intra_op_threads=2)
    for size in (1, 64, 600):
        got = np.vstack([two.evaluate_array(x_cat[i:i + size], x_cont[i:i + size]) for i in range(0, 600, size)])
        assert np.abs(got - full).max() <= 1e-12, size
        got = np.concatenate([two.objective_array(x_cat[i:i + size], x_cont[i:i + size]) for i in range(0, 600, size)])
        assert np.abs(got - full[:, col]).max() <= 1e-12, size
