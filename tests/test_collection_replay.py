"""The replay check: a stored run follows from its seed, and a changed stored value or a
changed config is found at the round it affects. Synthetic evaluator: this checks provenance
logic, not a model."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from smm_bench_collection import store as S
from smm_bench_collection.collect import collect
from smm_bench_collection.replay import check_run, main
from smm_bench_collection.synthetic import synthetic_spec


def _rewrite(folder, column, change):
    """Edit one column of a sealed single-file store in place (what a tampered dataset looks like)."""
    (shard,) = S._data_files(folder / "shards")
    table = pq.read_table(shard)
    values = change(table.column(column).to_pylist(), table)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, [values]).cast(table.schema), shard)


@pytest.mark.parametrize("sampler", ["cmaes", "tpe", "random"])
def test_a_collected_run_replays_from_its_seed(tmp_path, sampler):
    collect("ps", synthetic_spec("ps"), sampler, 40, tmp_path / "run", seed=5, progress=False)
    check = check_run(tmp_path / "run")
    assert (check.sampler, check.seed) == (sampler, 5)
    assert check.stored_rounds == 40 // {"cmaes": 16, "tpe": 8, "random": 8}[sampler]
    assert check.reproducible and check.max_deviation == 0.0


def test_a_changed_stored_value_shows_at_the_next_round(tmp_path):
    """CMA-ES learns from the told values: promoting round 0's worst config moves round 1."""
    collect("ps", synthetic_spec("ps"), "cmaes", 48, tmp_path / "run", seed=2, progress=False)
    with S.ResultStore(tmp_path / "run", "ps", "synthetic-v1") as st:
        st.compact()

    def promote_worst_of_round_0(values, table):
        gen = np.array(table.column("generation").to_pylist())
        worst = int(np.flatnonzero(gen == 0)[np.argmin(np.array(values)[gen == 0])])
        return [1.0 if i == worst else v for i, v in enumerate(values)]

    _rewrite(tmp_path / "run", "objective_acc", promote_worst_of_round_0)
    check = check_run(tmp_path / "run")
    assert check.stored_rounds == 3 and check.matched_rounds == 1 and not check.reproducible
    assert check.max_deviation > 1e-3


def test_a_changed_config_shows_at_its_own_round_and_the_cli_reports_it(tmp_path, capsys):
    collect("ps", synthetic_spec("ps"), "random", 24, tmp_path / "run", seed=1, progress=False)
    with S.ResultStore(tmp_path / "run", "ps", "synthetic-v1") as st:
        st.compact()

    def nudge_round_2(values, table):
        gen = table.column("generation").to_pylist()
        return [min(v + 1e-6, 1.0) if g == 2 else v for v, g in zip(values, gen)]

    _rewrite(tmp_path / "run", "w0_l05", nudge_round_2)
    assert main([str(tmp_path / "run"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["matched_rounds"] == 2 and out["stored_rounds"] == 3 and out["reproducible"] is False
    assert out["max_deviation"] == pytest.approx(1e-6, rel=1e-3)
    main([str(tmp_path / "run")])
    assert "2/3 complete rounds replay; diverges at round 2" in capsys.readouterr().out


def test_a_folder_with_two_runs_is_refused(tmp_path):
    collect("ps", synthetic_spec("ps"), "random", 8, tmp_path / "run", seed=1, progress=False)
    collect("ps", synthetic_spec("ps"), "random", 8, tmp_path / "run", seed=2, progress=False)
    with pytest.raises(ValueError, match=r"exactly one \(sampler, seed\) run, found \[\('random', 1\), \('random', 2\)\]"):
        check_run(tmp_path / "run")
