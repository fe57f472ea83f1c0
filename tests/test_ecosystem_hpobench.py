"""HPOBench-style interface (HPOBench itself is not on PyPI; its documented API)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dfs_inputs, synthetic_target, train_cv

from smm_bench_plugin import Benchmark
from smm_bench_plugin.hpobench import DEFAULT_COST_SECONDS, SMMBenchHPOBench
from smm_bench_plugin.scenario import Target


def test_minimises_one_minus_accuracy_with_constant_cost(ps_scenario):
    hb = SMMBenchHPOBench(ps_scenario, rng=1)
    bench = Benchmark(ps_scenario)
    cs = hb.get_configuration_space(seed=3)
    assert sorted(cs) == sorted(bench.hyperparameter_names)
    assert len(list(hb.get_fidelity_space(seed=3).values())) == 0
    config = cs.sample_configuration()  # a ConfigSpace.Configuration is accepted as is
    want = bench.evaluate(dict(config))[0]
    res = hb.objective_function(config)
    assert res["function_value"] == 1.0 - want["gsm8k_ja"]
    assert res["cost"] == DEFAULT_COST_SECONDS
    assert res["info"]["gsm8k_ja"] == want["gsm8k_ja"] and res["info"]["fidelity"] == {}
    test = hb.objective_function_test(dict(config), fidelity=None, rng=0)
    assert test["function_value"] == 1.0 - want["mgsm_ja"]
    assert SMMBenchHPOBench(ps_scenario, default_cost=7.5).objective_function(config)["cost"] == 7.5
    meta = hb.get_meta_information()
    assert meta["objective"] == "1 - gsm8k_ja" and meta["references"] == bench.citation
    family = SMMBenchHPOBench.get_meta_information()  # static in HPOBench: callable on the class
    assert family["name"] == "SMM-Bench" and "arXiv:2509.02555" in family["references"][0]
    with pytest.raises(TypeError, match="one configuration"):
        hb.objective_function([config, config])


def test_cost_from_the_scenarios_cost_target(tmp_path):
    from smm_bench_surrogates.export import export_cv_boosters

    rng = np.random.default_rng(2)
    X = dfs_inputs(rng, 700)
    seconds = 100 + 50 * X[:, 40] + rng.normal(0, 1, len(X))
    models = [(Target("acc", "objective", 0.0, 1.0), train_cv(X, synthetic_target(X, rng) - 0.3, rounds=6)),
              (Target("sec", "cost", 0.0, float("inf"), "minimize"), train_cv(X, seconds, rounds=6))]
    folder = export_cv_boosters(tmp_path / "s", name="cost_t", space="dfs", models=models)
    hb = SMMBenchHPOBench(folder)
    config = dict(hb.get_configuration_space(seed=0).sample_configuration())
    res = hb.objective_function(config)
    want = Benchmark(folder).evaluate(config)[0]
    assert res["cost"] == want["sec"] and 90 < res["cost"] < 160
    assert res["function_value"] == 1.0 - want["acc"]
    with pytest.raises(ValueError, match="no target with role 'test'"):
        hb.objective_function_test(config)


def test_fidelity_and_invalid_configs_are_refused(ps_scenario):
    hb = SMMBenchHPOBench(ps_scenario)
    config = dict(hb.get_configuration_space(seed=0).sample_configuration())
    with pytest.raises(ValueError, match="no fidelity"):
        hb.objective_function(config, fidelity={"subset": 0.5})
    config["w0_l00"] = 1.5
    with pytest.raises(ValueError, match="w0_l00"):
        hb.objective_function(config)
