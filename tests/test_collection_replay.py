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
from smm_bench_collection.synthetic import SyntheticEvaluator, synthetic_spec


def _rewrite(folder, column, change):
    """Edit one column of a sealed single-file store in place (what a tampered dataset looks like)."""
    (shard,) = S._data_files(folder / "shards")
    table = pq.read_table(shard)
    values = change(table.column(column).to_pylist(), table)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, [values]).cast(table.schema), shard)


@pytest.mark.parametrize("space, sampler, rounds", [("ps", "cmaes", 3), ("ps", "tpe", 5), ("ps", "random", 5),
                                                  ("dfs", "catcma", 3), ("dfs", "random_stratified", 5)])
def test_a_collected_run_replays_from_its_seed(tmp_path, space, sampler, rounds):
    """40 configs: whole rounds of 8, or CMA-ES rounds of 16 (PS) / 15 (DFS) with the last cut."""
    collect(space, synthetic_spec(space), sampler, 40, tmp_path / "run", seed=5, progress=False)
    check = check_run(tmp_path / "run")
    assert (check.sampler, check.seed) == (sampler, 5)
    assert check.stored_rounds == check.matched_rounds == rounds
    assert check.reproducible and check.max_deviation == 0.0


def test_a_partial_first_round_and_a_non_default_population(tmp_path):
    collect("ps", synthetic_spec("ps"), "cmaes", 10, tmp_path / "ten", seed=1, progress=False)
    check = check_run(tmp_path / "ten")  # 10 of 16 slots: the stored slots are what can be checked
    assert check.stored_rounds == check.matched_rounds == 1 and check.reproducible
    kw = {"population_size": 8}
    collect("ps", synthetic_spec("ps"), "cmaes", 24, tmp_path / "pop8", seed=1, progress=False, sampler_kwargs=kw)
    check = check_run(tmp_path / "pop8", sampler_kwargs=kw)
    assert check.stored_rounds == check.matched_rounds == 3 and check.reproducible
    with pytest.raises(ValueError, match=r"hold up to 8 configurations but the cmaes sampler asks 16 per round"):
        check_run(tmp_path / "pop8")  # not reported as a divergence: the population is the run's, not the seed's
    collect("ps", synthetic_spec("ps"), "cmaes", 32, tmp_path / "pop32", seed=1, progress=False,
            sampler_kwargs={"population_size": 32})
    with pytest.raises(ValueError, match=r"hold up to 32 configurations but the cmaes sampler asks 16 per round"):
        check_run(tmp_path / "pop32")


def test_a_repeated_slot_resolves_to_its_earliest_row_as_in_collect(tmp_path):
    """An unrepaired store with a re-asked slot: the first evaluation is the run's, as on resume."""
    collect("ps", synthetic_spec("ps"), "cmaes", 32, tmp_path / "run", seed=4, progress=False)
    first = S.read_dataset(tmp_path / "run").to_pylist()
    slot = next(r for r in first if (r["generation"], r["batch_index"]) == (1, 3))
    moved = {n: min(slot[n] + 0.1, 1.0) for n in S.load_space("ps").names}  # a later, different config
    with S.ResultStore(tmp_path / "run", "ps", "synthetic-v1") as st:
        st.append([S.Record(moved, SyntheticEvaluator("ps").evaluate(moved), S.RowMeta("cmaes", 4, 1, 3))])
    assert not S.validate(tmp_path / "run").ok
    check = check_run(tmp_path / "run")
    assert check.reproducible and check.stored_rounds == 2


def test_a_missing_row_is_an_error_not_a_short_check(tmp_path):
    collect("ps", synthetic_spec("ps"), "random", 24, tmp_path / "run", seed=1, progress=False)
    with S.ResultStore(tmp_path / "run", "ps", "synthetic-v1") as st:
        st.compact()
    (shard,) = S._data_files(tmp_path / "run" / "shards")
    table = pq.read_table(shard)
    keep = [not (g == 1 and b == 2) for g, b in zip(table.column("generation").to_pylist(),
                                                     table.column("batch_index").to_pylist())]
    pq.write_table(table.filter(keep), shard)
    with pytest.raises(ValueError, match="round 1 has a slot with no stored row"):
        check_run(tmp_path / "run")
    assert main([str(tmp_path / "run")]) == 1


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
    assert main([str(tmp_path / "run"), "--json"]) == 1
    out = json.loads(capsys.readouterr().out.strip())
    assert out["matched_rounds"] == 2 and out["stored_rounds"] == 3 and out["reproducible"] is False
    assert out["max_deviation"] == pytest.approx(1e-6, rel=1e-3)
    main([str(tmp_path / "run")])
    assert "2/3 stored rounds replay on " in (out := capsys.readouterr().out) and "; diverges at round 2" in out


def test_a_folder_with_two_runs_is_refused(tmp_path):
    collect("ps", synthetic_spec("ps"), "random", 8, tmp_path / "run", seed=1, progress=False)
    collect("ps", synthetic_spec("ps"), "random", 8, tmp_path / "run", seed=2, progress=False)
    with pytest.raises(ValueError, match=r"exactly one \(sampler, seed\) run, found "
                                         r"\[\('random', 1\), \('random', 2\)\]"):
        check_run(tmp_path / "run")
