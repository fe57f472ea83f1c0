"""The derived-feature comparison (smm_bench_surrogates.features) on a small synthetic DFS dataset."""
from __future__ import annotations

import json

import pytest

from smm_bench_collection.collect import collect, family_factory
from smm_bench_plugin.cli import main as cli_main
from smm_bench_surrogates import features
from smm_bench_surrogates.train import ACCURACY_COLUMNS, fit_predict, held_out_quality, learner_matrix, load_dataset, split


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Random rows and two CatCMA runs long enough to be held out whole, and a scenario trained on them."""
    root = tmp_path_factory.mktemp("features")
    factory = family_factory("dfs", "synthetic")
    collect("dfs", factory, "random", 160, root / "data" / "random-s0", seed=0, progress=False)
    for seed in (0, 1):
        collect("dfs", factory, "catcma", 100, root / "data" / f"catcma-s{seed}", seed=seed, progress=False)
    assert cli_main(["train", "--data", str(root / "data"), "--space", "dfs", "--out", str(root / "scenario"),
                     "--trials", "1"]) == 0
    return root


@pytest.mark.slow  # trains cross-validated ensembles for every feature set
def test_every_set_is_scored_on_the_same_rows_with_the_scenarios_parameters(dataset, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert features.main(["--data", str(dataset / "data"), "--space", "dfs", "--scenario", str(dataset / "scenario"),
                          "--sets", "none,dfs-path-v2", "--seeds", "0,1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result["sets"]) == ["none", "dfs-path-v2"] and result["rows"] == 360
    assert [result["sets"][s]["columns"] for s in result["sets"]] == [95, 95 + 24]
    assert set(result["sets"]["none"]["runs"]) == {"catcma-s0", "catcma-s1"}  # random is never held out whole
    # the split figures are the paper's CV ensemble with the scenario's tuned parameters, recomputed here
    data = load_dataset(dataset / "data", "dfs")
    params = features.tuned_params(dataset / "scenario")
    y = data.y[ACCURACY_COLUMNS["objective"]]
    train, test = split(len(y), 1)
    X = learner_matrix(data, "dfs-path-v2")
    pred, _ = fit_predict(X, y, train, test, params["objective"], data.n_cat, 0)
    assert result["sets"]["dfs-path-v2"]["split"]["objective"][1]["all"]["r2"] == pytest.approx(
        held_out_quality(pred, y[test])["r2"], abs=1e-12)
    table = capsys.readouterr().out
    assert "**objective**" in table and "**test**" in table and "| `dfs-path-v2` | 119 |" in table
    assert "| `none` | 95 |" in table and "/2 |" in table  # beats counted over the two held-out runs


def test_a_set_that_does_not_exist_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ValueError, match="derived must be 'auto', 'none' or one of"):
        features.main(["--data", str(tmp_path / "nothing"), "--space", "dfs", "--scenario", str(tmp_path),
                       "--sets", "dfs-path-v9"])


def test_a_sampler_group_too_small_in_one_seed_is_averaged_over_the_others():
    """quality_by_sampler gives a group under MIN_GROUP_ROWS only its size: that seed is left out of the mean."""
    def q(r2, tau):
        return {"r2": r2, "kendall_tau": tau, "n": 40}

    per = [{"all": q(0.8, 0.6), "by_sampler": {"tpe": q(0.5, 0.4)}},
           {"all": q(0.6, 0.4), "by_sampler": {"tpe": {"n": 28}}}]
    result = {"space": "dfs", "rows": 400, "seeds": [0, 1], "tuned_for": "dfs-path-v1",
              "sets": {"a": {"columns": 95, "split": {"objective": per}, "runs": {"tpe-s0": {"objective": q(0.2, 0.3)}}},
                       "b": {"columns": 96, "split": {"objective": per}, "runs": {"tpe-s0": {"objective": q(0.3, 0.3)}}}}}
    table = features.markdown(result)
    assert "| `a` | 95 | 0.700 / 0.500 | 0.500 / 0.400 | 0.200 / 0.300 | — |" in table
    assert "| `b` | 96 | 0.700 / 0.500 | 0.500 / 0.400 | 0.300 / 0.300 | 1/1 |" in table
    assert "tuned for the scenario's own set, dfs-path-v1" in table


def test_a_scenario_without_tuned_parameters_is_named(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"quality": {"targets": {}}}))
    with pytest.raises(ValueError, match="meta.json records no tuned parameters"):
        features.tuned_params(tmp_path)


def test_means_skip_undefined_values():
    assert features._mean([None, 0.5, 0.7]) == pytest.approx(0.6) and features._mean([None]) is None
    assert features._f(None) == "—" and features._f(0.12345) == "0.123"
