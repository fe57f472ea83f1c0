"""A real prefix evaluation (the evaluator stops after k objective items) gives the stored bits' prefix."""
import numpy as np
import pytest
import torch

from smm_bench_collection.evaluate import MergeEvaluator
from smm_bench_collection.family import mini_family
from smm_bench_collection.fidelity import item_order, rung_accuracies
from tiny_family import make_tiny_family
from test_collection_evaluate import dfs_config_mild, ps_config


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    torch.set_num_threads(1)
    return mini_family(make_tiny_family(tmp_path_factory.mktemp("family")), n_objective=16, n_test=4)


@pytest.mark.slow  # evaluates merges for real
@pytest.mark.parametrize("engine", ["fast", "batched"])
@pytest.mark.parametrize("space,make", [("ps", ps_config), ("dfs", dfs_config_mild)])
def test_prefix_evaluation_equals_the_full_evaluations_bits_in_item_order(family, space, make, engine):
    ev = MergeEvaluator(space, family, engine=engine)
    config = make(3)
    full = ev.evaluate(config)
    order = item_order(16)
    ladder = (2, 4, 8, 16)
    targets = rung_accuracies(full.objective.correct[None, :], ladder)[0]
    for j, k in enumerate(ladder):
        prefix = ev.evaluate_prefix(config, k)
        assert prefix.objective.n_items == k
        assert np.array_equal(prefix.objective.correct, full.objective.correct[order[:k]])
        assert prefix.accuracy == targets[j]
        assert set(prefix.timings) == {"merge", "generate", "judge"} and prefix.seconds > 0


def test_prefix_length_is_checked(family):
    ev = MergeEvaluator("ps", family, engine="fast")
    with pytest.raises(ValueError, match="n_items must be between 1 and the objective set's 16 items, got 17"):
        ev.evaluate_prefix(ps_config(0), 17)
