"""Samplers: seeded determinism, valid configs, ask/tell contract, maximisation sign."""
from __future__ import annotations

import numpy as np
import pytest

from smm_bench_collection.samplers import SAMPLERS, make_sampler, sampler_from_state, sampler_label
from smm_bench_plugin.optimizers import INDEPENDENT_TPE, MULTIVARIATE_TPE
from smm_bench_collection.space import load_space

PS_ONLY, DFS_ONLY = {"random_modelwise"}, {"catcma", "random_stratified"}
VALID = [("ps", s) for s in SAMPLERS if s not in DFS_ONLY] + [("dfs", s) for s in SAMPLERS if s not in PS_ONLY]


def toy_objective(config) -> float:
    """Closed-form stand-in objective (higher is better): floats near 0.8 of their range, slots 'B'."""
    space = load_space("dfs" if "slot00" in config else "ps")
    score = 0.0
    for p in space.params:
        v = config[p.name]
        if isinstance(v, str):
            score += 1.0 if v == "B" else 0.0
        else:
            u = (v - p.lower) / (p.upper - p.lower)
            score -= (u - 0.8) ** 2
    return score


def run(space, name, seed, generations=3):
    sampler = make_sampler(name, space, seed)
    history = []
    for _ in range(generations):
        configs = sampler.ask()
        sampler.tell(configs, [toy_objective(c) for c in configs])
        history.append(configs)
    return sampler, history


@pytest.mark.parametrize("space, name", VALID)
def test_same_seed_same_configs_and_valid(space, name):
    _, a = run(space, name, seed=7)
    _, b = run(space, name, seed=7)
    assert a == b
    _, c = run(space, name, seed=8)
    assert a != c
    sp = load_space(space)
    for batch in a:
        assert len(batch) >= 1
        for config in batch:
            assert list(config) == sp.names  # sorted, complete
            assert sp.canonical(config) == config  # in bounds, proper types
            assert all(type(v) in (float, str) for v in config.values())


@pytest.mark.parametrize("space, name", [("ps", "catcma"), ("dfs", "random_modelwise"), ("ps", "random_stratified")])
def test_sampler_space_mismatch_is_refused(space, name):
    with pytest.raises(ValueError, match=f"{name} needs"):
        make_sampler(name, space, 0)


def test_unknown_sampler():
    with pytest.raises(ValueError, match="unknown sampler 'nope'; choose from"):
        make_sampler("nope", "ps", 0)


@pytest.mark.parametrize("name", ["cmaes", "tpe", "random"])
def test_ask_tell_contract(name):
    sampler = make_sampler(name, "ps", 0)
    with pytest.raises(RuntimeError, match=r"tell\(\) without a preceding ask\(\)"):
        sampler.tell([], [])
    configs = sampler.ask()
    with pytest.raises(RuntimeError, match="tell.. the previous batch before asking"):
        sampler.ask()
    with pytest.raises(ValueError, match="exactly the configs of the last ask"):
        sampler.tell(configs[:-1], [0.0] * (len(configs) - 1))
    with pytest.raises(ValueError, match="must not be NaN"):
        sampler.tell(configs, [float("nan")] * len(configs))
    # tell accepts the batch in any order (results of an unordered pool)
    order = list(reversed(range(len(configs))))
    sampler.tell([configs[i] for i in order], [toy_objective(configs[i]) for i in order])
    assert sampler.generation == 1


def test_tell_order_does_not_change_the_trajectory():
    a = make_sampler("cmaes", "ps", 3)
    b = make_sampler("cmaes", "ps", 3)
    for _ in range(3):
        ca, cb = a.ask(), b.ask()
        assert ca == cb
        a.tell(ca, [toy_objective(c) for c in ca])
        rev = ca[::-1]
        b.tell(rev, [toy_objective(c) for c in rev])
    assert a.ask() == b.ask()


def test_modelwise_broadcasts_one_weight_per_source():
    sampler = make_sampler("random_modelwise", "ps", 0)
    for config in sampler.ask():
        w0 = {config[f"w0_l{l:02d}"] for l in range(32)}
        w1 = {config[f"w1_l{l:02d}"] for l in range(32)}
        assert len(w0) == 1 and len(w1) == 1 and w0 != w1


@pytest.mark.parametrize("space, name", [("ps", "cmaes"), ("ps", "sepcma"), ("dfs", "sepcma")])
def test_cma_maximises(space, name):
    """Values are accuracies (maximised): the population must move towards the toy optimum."""
    sampler, history = run(space, name, seed=0, generations=25)
    first = np.mean([toy_objective(c) for c in history[0]])
    last = np.mean([toy_objective(c) for c in history[-1]])
    assert last > first + 0.3 * abs(first)


def test_catcma_learns_categoricals():
    sampler, history = run("dfs", "catcma", seed=0, generations=25)
    share_b = lambda batch: np.mean([[c[f"slot{i:02d}"] == "B" for i in range(32)] for c in batch])
    assert share_b(history[0]) < 0.5
    assert share_b(history[-1]) > 0.6


def test_the_collections_tpe_is_named_apart_from_compares():
    """Two TPE algorithms: a figure of collected runs must not call independent TPE "tpe", the
    name of ``smm-bench compare``'s multivariate one."""
    assert not INDEPENDENT_TPE["multivariate"] and MULTIVARIATE_TPE["multivariate"]
    assert {k: v for k, v in INDEPENDENT_TPE.items() if k != "multivariate"} == \
        {k: v for k, v in MULTIVARIATE_TPE.items() if k != "multivariate"}
    assert sampler_label("tpe") == "tpe (independent)"
    assert [sampler_label(s) for s in SAMPLERS if s != "tpe"] == [s for s in SAMPLERS if s != "tpe"]


def test_tpe_settings_are_pinned():
    sampler = make_sampler("tpe", "ps", 0)
    tpe = sampler._study.sampler
    assert tpe._multivariate is False and tpe._constant_liar is False and tpe._group is False
    assert tpe._n_startup_trials == INDEPENDENT_TPE["n_startup_trials"] == 10
    assert tpe._n_ei_candidates == 24
    assert tpe._gamma(100) == 10 and tpe._gamma(1000) == 25
    assert sampler.batch_size == 8
    configs = sampler.ask()
    values = [toy_objective(c) for c in configs]
    sampler.tell(configs, values)
    assert sampler._study.best_value == max(values)  # direction = maximise


@pytest.mark.parametrize("space, name", VALID)
def test_state_dict_roundtrip_is_exact(space, name):
    """A restored sampler continues bit-exactly (cmaes' own pickling would drop the RNG)."""
    sampler, _ = run(space, name, seed=11, generations=2)
    clone = sampler_from_state(sampler.state_dict())
    for _ in range(3):
        a, b = sampler.ask(), clone.ask()
        assert a == b
        sampler.tell(a, [toy_objective(c) for c in a])
        clone.tell(b, [toy_objective(c) for c in b])
    sampler.ask()
    with pytest.raises(RuntimeError, match="between ask.. and tell.. is not supported"):
        sampler.state_dict()


def test_stratified_random_covers_the_distance_from_the_default():
    """Path lengths spread over 0..32 (uniform random: ~21 +- 2.7) and scales from 1.0 to the
    bounds, so model A's neighbourhood (the default) is sampled too."""
    sampler = make_sampler("random_stratified", "dfs", 0)
    configs = []
    for _ in range(100):  # 800 configs
        batch = sampler.ask()
        sampler.tell(batch, [0.0] * len(batch))
        configs += batch
    inserted = np.array([sum(v != "none" for k, v in c.items() if k.startswith("slot")) for c in configs])
    spread = np.array([max(abs(v - 1.0) for k, v in c.items() if k.startswith("scale")) for c in configs])
    assert inserted.min() == 0 and inserted.max() == 32 and (inserted <= 5).sum() > 60
    assert (spread < 0.05).sum() > 20 and spread.max() > 0.55
    space = load_space("dfs")
    assert all(space.canonical(c) == c for c in configs[:50])
    assert {v for c in configs for k, v in c.items() if k.startswith("slot")} == {"A", "B", "none"}
