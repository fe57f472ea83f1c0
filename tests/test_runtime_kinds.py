"""The three kinds of one scenario: surrogate, table of the stored true evaluations, live merges.

Real data throughout: the table is the committed collection (``collection/data``), the live kind
merges and judges the mini family for real.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import smm_bench_plugin as smm

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ps_table():
    return smm.load("smm_ps_mini", kind="table")


def _stored_rows(space: str) -> dict[str, dict]:
    """Every stored row of the committed collection, read straight from its parquet shards."""
    rows = {}
    for f in sorted((REPO / "collection" / "data" / f"mini_{space}").glob("*/shards/*.parquet")):
        for row in pq.read_table(f).to_pylist():
            rows.setdefault(row["config_id"], row)
    return rows


def test_table_returns_the_stored_values_bit_for_bit(ps_table):
    stored = _stored_rows("ps")
    assert len(ps_table) == len(stored) >= 26_200
    assert set(ps_table.config_ids) == set(stored)
    assert ps_table.target_names == smm.load("smm_ps_mini").target_names  # same names as the surrogate
    rng = np.random.default_rng(0)
    picked = [ps_table.config_ids[i] for i in rng.choice(len(ps_table), 200, replace=False)]
    configs = [ps_table.config(cid) for cid in picked]
    results = ps_table.evaluate(configs)
    for cid, config, result in zip(picked, configs, results):
        row = stored[cid]
        assert config == {n: row[n] for n in ps_table.hyperparameter_names}  # floats exactly as stored
        expected = {"gsm8k_ja_mini": row["objective_acc"], "mgsm_ja_mini": row["test_acc"],
                    "eval_seconds": row["eval_seconds"]}
        assert result == expected and ps_table.lookup(cid) == expected
        assert all(type(v) is float and v.hex() == expected[k].hex() for k, v in result.items())
    assert ps_table.objective(configs[0]) == stored[picked[0]]["objective_acc"]
    assert ps_table.test(configs[0]) == stored[picked[0]]["test_acc"]
    x_cat, x_cont = ps_table.encode(configs[:5])
    np.testing.assert_array_equal(ps_table.objective_array(x_cat, x_cont),
                                  [stored[c]["objective_acc"] for c in picked[:5]])


def test_table_takes_rows_as_mappings_and_pandas_series_and_lists_every_stored_one(ps_table):
    import types

    import pandas as pd

    configs = ps_table.configs()
    assert len(configs) == len(ps_table)
    frame = pd.DataFrame(configs[:4])
    want = ps_table.evaluate(configs[3])
    assert ps_table.evaluate(frame.iloc[3]) == want  # a row of a frame, as a pandas Series
    assert ps_table.evaluate(types.MappingProxyType(configs[3])) == want  # any Mapping
    assert smm.load("smm_ps_mini").evaluate([frame.iloc[3]]) == smm.load("smm_ps_mini").evaluate(configs[3])
    with pytest.raises(TypeError, match="a Mapping, a ConfigSpace.Configuration or a pandas Series, got list"):
        ps_table.evaluate([list(configs[3].values())])


def test_table_refuses_a_configuration_it_does_not_hold_and_names_the_difference(ps_table):
    config = dict(ps_table.configs()[0])
    config["w0_l05"] = np.nextafter(config["w0_l05"], 2.0)  # one ulp away: not the stored configuration
    with pytest.raises(KeyError, match=r"not in the table of \d+ true evaluations.*most in w0_l05"):
        ps_table.evaluate(config)
    with pytest.raises(KeyError, match="config_id 'nope' is not in the table"):
        ps_table.lookup("nope")
    bad = dict(config, w0_l05=1.5)  # the same validation as the surrogate: bounds first
    with pytest.raises(ValueError, match="w0_l05"):
        ps_table.evaluate(bad)


def test_table_of_the_dfs_family_with_its_categoricals():
    table = smm.load("smm_dfs_mini", kind="table")
    stored = _stored_rows("dfs")
    assert len(table) == len(stored)
    cid = table.config_ids[-1]
    config = table.config(cid)
    assert {config[n] for n in table.cat_names} <= {"A", "B", "none"}
    assert table.objective(config) == stored[cid]["objective_acc"]


def test_kinds_refuse_what_they_cannot_serve(tmp_path):
    with pytest.raises(ValueError, match="kind must be one of surrogate, table, live"):
        smm.load("smm_ps_mini", kind="tabular")
    with pytest.raises(ValueError, match="single-fidelity"):
        smm.load("smm_ps_mini_mf", kind="table")
    with pytest.raises(TypeError, match="only kind='table'"):
        smm.load("smm_ps_mini", data=tmp_path)
    with pytest.raises(FileNotFoundError, match="data: no collection store under"):
        smm.load("smm_ps_mini", kind="table", data=tmp_path)
    with pytest.raises(ValueError, match="family .*'mini-v1' space 'ps'"):
        smm.load("smm_ps_mini", kind="table", data=REPO / "collection" / "data" / "mini_dfs")


def test_import_stays_light_and_the_table_needs_no_torch_lightgbm_or_optuna():
    """``import smm_bench_plugin`` imports none of pandas, torch, lightgbm, optuna, pyarrow or the
    collection layer; the table kind then brings pyarrow and the store reader, nothing heavier
    (pyarrow's parquet reader imports pandas by itself when it is installed)."""
    code = ("import sys, smm_bench_plugin as smm\n"
            "heavy = ('pandas', 'torch', 'lightgbm', 'optuna', 'pyarrow', 'smm_bench_collection')\n"
            "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
            "t = smm.load('smm_ps_mini', kind='table')\n"
            "t.evaluate(t.configs()[0])\n"
            "print(sorted(m for m in heavy[1:] if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "['pyarrow', 'smm_bench_collection']"


@pytest.mark.slow  # evaluates merges for real
def test_live_recheck_of_a_stored_configuration_and_a_cached_second_call(ps_table, isolated_data_dir):
    """One real merge of the mini family: a stored configuration evaluated live gives its stored accuracies."""
    live = smm.load("smm_ps_mini", kind="live")
    try:
        cid = ps_table.config_ids[0]
        config = ps_table.config(cid)
        first = live.evaluate(config)[0]
        assert live.evaluated == 1
        stored = ps_table.lookup(cid)
        assert first["gsm8k_ja_mini"] == stored["gsm8k_ja_mini"]
        assert first["mgsm_ja_mini"] == stored["mgsm_ja_mini"]
        assert first["eval_seconds"] > 0
        assert live.evaluate(config)[0] == first and live.evaluated == 1  # read back from its store
        assert (isolated_data_dir / "live" / "smm_ps_mini" / "STORE.json").is_file()
        with pytest.raises(ValueError, match="w0_l00"):
            live.evaluate(dict(config, w0_l00=-0.5))
    finally:
        live.close()


@pytest.mark.slow  # evaluates merges for real
def test_verify_puts_the_true_value_beside_the_surrogate_for_each_runs_best(tmp_path, isolated_data_dir):
    """``smm-bench compare`` then ``smm-bench verify``: one real merge per run's best, kept for the next ask."""
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "smm_bench_plugin.cli"]
    env = {**os.environ, "SMM_BENCH_DATA_DIR": str(isolated_data_dir)}
    compare = subprocess.run([*cli, "compare", "--scenario", "smm_ps_mini", "--optimizers", "random", "--budget",
                              "16", "--seeds", "1", "--jobs", "1", "--no-plot", "--quiet", "--out", str(out)],
                             capture_output=True, text=True, timeout=600, env=env)
    assert compare.returncode == 0, compare.stderr[-3000:]
    proc = subprocess.run([*cli, "verify", str(out), "--quiet"], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 evaluated now" in proc.stdout and "surrogate beside true" in proc.stdout
    result = json.loads((out / "verified.json").read_text())
    (run,) = result["runs"]
    best = json.loads((out / "best_configs.json").read_text())["runs"][0]
    assert run["surrogate_objective"] == best["best_objective"]
    live = smm.load("smm_ps_mini", kind="live")  # the same store: read back, not merged again
    try:
        true = live.evaluate(best["config"])[0]
        assert live.evaluated == 0
    finally:
        live.close()
    assert run["true_objective"] == true["gsm8k_ja_mini"] and run["true_test"] == true["mgsm_ja_mini"]
    assert run["gap"] == run["surrogate_objective"] - run["true_objective"]


def test_verify_names_a_folder_without_best_configs(tmp_path):
    from smm_bench_plugin.verify import verify

    with pytest.raises(FileNotFoundError, match="RUN_DIR: .*best_configs.json is missing"):
        verify(tmp_path)


def test_optuna_helper_runs_a_study_and_matches_compares_tpe():
    import optuna

    from smm_bench_plugin.optimizers import ArraySpace
    from smm_bench_plugin.optuna_space import optuna_distributions, optuna_objective, tpe_sampler

    bench = smm.load("smm_dfs_mini")
    dists = optuna_distributions(bench)
    assert list(dists) == list(bench.cat_names + bench.cont_names)  # compare's order: categoricals first
    assert dists == optuna_distributions(ArraySpace.of(bench))
    assert dists["slot00"].choices == ("A", "B", "none") and (dists["scale01"].low, dists["scale01"].high) == (0.4, 1.5)
    study = optuna.create_study(direction="maximize", sampler=tpe_sampler(seed=1))
    study.optimize(optuna_objective(bench), n_trials=15)
    assert study.best_value == bench.objective(study.best_params)
    test_study = optuna.create_study(direction="maximize", sampler=tpe_sampler(seed=1))
    test_study.optimize(optuna_objective(bench, target="mgsm_ja_mini"), n_trials=3)
    assert test_study.trials[0].value == bench.test(test_study.trials[0].params)
    with pytest.raises(ValueError, match="target must be one of gsm8k_ja_mini"):
        optuna_objective(bench, target="accuracy")


def test_the_dfs_default_configuration_is_flagged_where_users_meet_it(tmp_path, isolated_data_dir):
    from smm_bench_plugin.default_point import default_note, default_standing

    dfs, ps = smm.load("smm_dfs_mini"), smm.load("smm_ps_mini")
    standing = default_standing(dfs)
    assert standing["share_below"] == 1.0 and standing["default"] > 0.7 > 0.05 > standing["random_mean"]
    assert default_note(ps) is None  # on PS the default is an ordinary point
    note = default_note(dfs)
    assert note.startswith("note: the default configuration scores 0.73 on smm_dfs_mini")
    env = {**os.environ, "SMM_BENCH_DATA_DIR": str(isolated_data_dir)}
    proc = subprocess.run([sys.executable, "-m", "smm_bench_plugin.cli", "compare", "--scenario", "smm_dfs_mini",
                           "--optimizers", "random", "--budget", "8", "--seeds", "1", "--jobs", "1", "--no-plot",
                           "--quiet", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert note in proc.stdout


def test_a_kind_without_its_extra_names_the_extra(monkeypatch):
    """``sys.modules[name] = None`` is how Python marks a module as absent: the import fails as if uninstalled."""
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError, match=r"kind='live' needs torch: pip install 'smm-bench-plugin\[collect\]'"):
        smm.load("smm_ps_mini", kind="live")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.delitem(sys.modules, "smm_bench_collection.store", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"kind='table' needs pyarrow: pip install 'smm-bench-plugin\[compare\]'"):
        smm.load("smm_ps_mini", kind="table")
