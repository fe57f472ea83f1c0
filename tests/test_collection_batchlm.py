"""The batched engine (version 3): version 2's arithmetic where it claims it, the same answers
except at near ties, and a configuration's logits independent of the batch it is decoded in.

Tiny random families (tests/tiny_family.py): the default one (2 heads, 1 kv head) and one with the
mini family's grouping (4 heads, 2 kv heads), whose decoding attention is the one that differs
from version 2's. Their random DFS paths are chaotic: near ties are frequent, so a dependence of
a row's arithmetic on its companions would show.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # every test here decodes merges for real (CI runs the slow tier too)
import torch

from smm_bench_collection.batchlm import MIN_ROWS, SharedPrefixes, grouped_linear, looped_linear, with_rotated_qk
from smm_bench_collection.evaluate import MergeEvaluator
from smm_bench_collection.family import MINI_DIR, mini_family
from smm_bench_collection.fastlm import LayerWeights
from test_collection_evaluate import dfs_config, dfs_config_mild, near_tie_at_divergence, ps_config
from tiny_family import make_tiny_family


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    torch.set_num_threads(1)
    return mini_family(make_tiny_family(tmp_path_factory.mktemp("family")), n_objective=12, n_test=6)


@pytest.fixture(scope="module")
def gqa_family(tmp_path_factory):
    """The mini family's head grouping (4 query heads on 2 kv heads of dim 8)."""
    torch.set_num_threads(1)
    root = make_tiny_family(tmp_path_factory.mktemp("gqa"), hidden=32, heads=4, kv_heads=2)
    return mini_family(root, n_objective=12, n_test=6)


def bits(result):
    return [getattr(part, flag).tolist() for part in (result.objective, result.test)
            for flag in ("correct", "number_ok", "japanese_ok")]


def test_grouped_linear_is_one_product_per_group():
    torch.manual_seed(0)
    sizes = [0, 1, 2, 3, 4, 7, 0, 40]
    ends = torch.tensor(sizes).cumsum(0)
    x = torch.randn(int(ends[-1]), 32)
    w = torch.randn(len(sizes), 96, 32)
    expected = torch.cat([x[e - s:e] @ w[g].T for g, (s, e) in enumerate(zip(sizes, ends.tolist()))])
    for got in (grouped_linear(x, w.transpose(1, 2), ends.to(torch.int32), ends.tolist()),
                looped_linear(x, w.transpose(1, 2), ends.tolist())):
        assert torch.equal(got, expected)


def test_rotated_weight_rows_rotate_exactly():
    torch.manual_seed(1)
    H, K, d, D = 4, 2, 8, 32
    lw = LayerWeights(qkv=torch.randn((H + 2 * K) * d, D), o=torch.randn(D, H * d), gate_up=torch.randn(192, D),
                      down=torch.randn(D, 96), norm_in=torch.randn(D), norm_post=torch.randn(D))
    layer = with_rotated_qk(lw, H, K, d)
    for rows in (1, 3, 500):
        x = torch.randn(rows, D)
        plain, folded = x @ lw.qkv.T, x @ layer.qkv.T
        assert torch.equal(folded[:, : (H + 2 * K) * d], plain)
        qk = plain[:, : (H + K) * d].view(rows, H + K, d)
        rot = torch.cat([-qk[..., d // 2:], qk[..., : d // 2]], -1).reshape(rows, -1)
        assert torch.equal(folded[:, (H + 2 * K) * d:], rot)
    lw.qkv.add_(1.0)  # the prepared layer is a copy: the merge buffer may be rewritten
    assert not torch.equal(layer.qkv[: (H + 2 * K) * d], lw.qkv)


def test_shared_prefixes_give_every_position_its_prefix():
    rows = [[1, 5, 6, 7], [1, 5, 6], [1, 5, 9, 9, 9], [1, 5, 6, 7], [2], [1, 5, 6, 8], [2, 3]]
    p = SharedPrefixes.of(rows)
    distinct = {tuple(r[:t + 1]) for r in rows for t in range(len(r))}
    assert p.n_nodes == len(distinct) and p.width == 5 and p.n_rows == len(rows)
    node_prefix = {}
    for r, t, n in zip(p.cell_row.tolist(), p.cell_position.tolist(), p.cell_node.tolist()):
        assert p.node_token[n] == rows[r][t] and p.node_position[n] == t
        assert node_prefix.setdefault(n, tuple(rows[r][:t + 1])) == tuple(rows[r][:t + 1])
    assert len(p.cell_row) == sum(map(len, rows))
    for n, home in enumerate(p.node_home.tolist()):  # a node's query sits in a prompt that has its prefix
        r, t = divmod(home, p.width)
        assert tuple(rows[r][:t + 1]) == node_prefix[n]
    assert [int(p.node_token[n]) for n in p.last_node] == [r[-1] for r in rows]
    with pytest.raises(ValueError, match="at least one token"):
        SharedPrefixes.of([[1], []])


@pytest.mark.parametrize("space,make", [("ps", ps_config), ("dfs", dfs_config)])
def test_prefill_is_version_2_bit_for_bit(gqa_family, space, make):
    """Same last-token logits and the same keys and values at every prompt position, every layer."""
    v2, v3 = MergeEvaluator(space, gqa_family, engine="fast"), MergeEvaluator(space, gqa_family)
    f = gqa_family
    rows = v2._rows["objective"] + v2._rows["test"]
    for seed in range(2):
        layers, scales = v2.prepare(make(seed))
        last2, kc2, vc2, lengths = v2._fast.prefill(layers, scales, rows, f.max_new_tokens, 0)
        prompts = SharedPrefixes.of(rows)
        capacity = prompts.width + f.max_new_tokens
        weights = v3.prepare(make(seed))
        kc3 = [torch.zeros(len(rows), capacity, 16) for _ in range(weights.depth)]
        vc3 = [torch.zeros_like(c) for c in kc3]
        last3 = v3._batched._prefill(weights, prompts, 0, capacity, kc3, vc3)
        assert torch.equal(last3, last2)
        for i in range(weights.depth):
            for r, n in enumerate(lengths.tolist()):
                assert torch.equal(kc3[i][r, :n].view(n, 2, 8).transpose(0, 1), kc2[i][r, :, :n])
                assert torch.equal(vc3[i][r, :n].view(n, 2, 8).transpose(0, 1), vc2[i][r, :, :n])


@pytest.mark.parametrize("fixture", ["family", "gqa_family"])
@pytest.mark.parametrize("space,make", [("ps", ps_config), ("dfs", dfs_config_mild)])
def test_answers_are_version_2_except_at_near_ties(request, fixture, space, make):
    fam = request.getfixturevalue(fixture)
    v2, v3, hf = (MergeEvaluator(space, fam, engine=e) for e in ("fast", "batched", "hf"))
    rows = v2._rows["objective"] + v2._rows["test"]
    for seed in range(3):
        a, b = v2.answer_tokens(make(seed)), v3.answer_tokens(make(seed))
        differ = [i for i in range(len(rows)) if a[i] != b[i]]
        assert len(differ) <= len(rows) // 6
        if differ:
            model = hf.prepare(make(seed))
            assert all(near_tie_at_divergence(model, rows[i], a[i], b[i]) for i in differ)


def _traced(ev: MergeEvaluator, configs: list, target: int) -> tuple[list[list[int]], dict]:
    """Answers and every step's logits of ``configs[target]`` decoded in one batch with the others."""
    f = ev.family
    trace: list = []
    units = [(ev.prepare(c), p) for c in configs for p in ev._prefixes]
    tokens = ev._batched.generate(units, f.max_new_tokens, f.stop_token_ids, trace=trace)
    logits = {}
    for step, unit, prompt, values in trace:
        for u, p, v in zip(unit.tolist(), prompt.tolist(), values):
            if u == target:
                logits[(step, p)] = v
    return tokens[target], logits


@pytest.mark.parametrize("space,make", [("ps", ps_config), ("dfs", dfs_config)])
def test_a_configuration_decodes_the_same_in_any_batch(gqa_family, space, make):
    """The same logits, bit for bit, at every step, alone and among companions of other sizes
    and depths (DFS paths of 31 to 63 layers) whose rows finish at other times."""
    ev = MergeEvaluator(space, gqa_family)
    target = make(100)
    companions = [make(s) for s in range(6)]
    if space == "dfs":
        companions[0] = {**companions[0], **{f"slot{i:02d}": "none" for i in range(32)}}  # the shortest path
        companions[1] = {**companions[1], **{f"slot{i:02d}": "B" for i in range(32)}}  # the longest
    alone, alone_logits = _traced(ev, [target], 0)
    # the steps where a prompt's logits chose a token (finished rows kept as padding decode on too)
    needed = {(step, p) for p, answer in enumerate(alone) for step in range(len(answer) + 1)}
    needed &= {key for key in alone_logits}  # the last step of a row that hit the token budget has none
    for batch, position in (([companions[0], target], 1), ([target] + companions, 0),
                            (companions[3:] + [target] + companions[:2], 3)):
        tokens, logits = _traced(ev, batch, position)
        assert tokens == alone
        assert needed <= logits.keys()
        assert all(torch.equal(logits[k], alone_logits[k]) for k in logits.keys() & alone_logits.keys())


def test_a_unit_never_decodes_below_min_rows(family):
    """A unit whose rows mostly stop early, among companions whose rows run on (so the batch is
    rarely compacted): alone it shrinks to its last running rows, in the batch it keeps its
    finished ones. Its products keep at least MIN_ROWS rows either way, and its logits are the
    same (below 4 rows MKL rounds another way)."""
    ev = MergeEvaluator("ps", family)
    target = ps_config(4)
    alone, alone_logits = _traced(ev, [target], 0)
    assert sorted(map(len, alone))[-3] < 30 < max(map(len, alone))  # 2 rows run on alone for many steps
    tokens, logits = _traced(ev, [target] + [ps_config(s) for s in (1, 2, 3)], 0)
    assert tokens == alone
    for trace in (alone_logits, logits):
        rows_at = np.bincount([step for step, _ in trace])
        assert rows_at[: max(map(len, alone)) + 1].min() >= MIN_ROWS
    assert all(torch.equal(logits[k], alone_logits[k]) for k in logits.keys() & alone_logits.keys())


def test_products_of_four_rows_or_more_do_not_depend_on_the_other_rows():
    """The property MIN_ROWS rests on, on this machine's BLAS: from MIN_ROWS rows up, a row's
    product is the same whatever the other rows and their number (the engine's shapes). With
    MIN_ROWS = 4 it failed on an AVX-512 Xeon: 4 rows of the 96-column product round otherwise."""
    torch.manual_seed(2)
    for k, n in ((32, 112), (32, 32), (32, 192), (96, 32), (32, 152), (16, 64)):
        w = torch.randn(n, k)
        x = torch.randn(3000, k)
        full = x @ w.T
        for start, rows in ((0, MIN_ROWS), (5, MIN_ROWS + 3), (100, 64), (7, 385), (0, 3000)):
            assert torch.equal(x[start:start + rows] @ w.T, full[start:start + rows])


@pytest.mark.parametrize("space,make", [("ps", ps_config), ("dfs", dfs_config)])
def test_evaluate_batch_equals_one_by_one_in_any_grouping(gqa_family, space, make):
    configs = [make(s) for s in range(5)]
    ev = MergeEvaluator(space, gqa_family)
    single = MergeEvaluator(space, gqa_family, max_batch_bytes=1)  # every configuration its own group
    batch = ev.evaluate_batch(configs)
    assert [bits(r) for r in batch] == [bits(r) for r in single.evaluate_batch(configs)]
    assert [bits(r) for r in batch] == [bits(ev.evaluate(c)) for c in configs]
    assert [r.timings["batch"] for r in batch] == [5.0] * 5
    assert [r.timings["batch"] for r in single.evaluate_batch(configs[:2])] == [1.0, 1.0]
    assert all(set(r.timings) == {"merge", "generate", "judge", "batch"} and r.engine_version == "3" for r in batch)
    assert all(abs(r.seconds - sum(r.timings[k] for k in ("merge", "generate", "judge"))) < 1e-9 for r in batch)


def test_a_bad_configuration_in_a_batch_is_named_before_any_work(family):
    ev = MergeEvaluator("ps", family)
    bad = {**ps_config(1), "w0_l04": 2.0}
    with pytest.raises(ValueError, match=r"w0_l04=2.0 is outside \[0, 1\]"):
        ev.evaluate_batch([ps_config(0), bad])


def test_engine_and_device_choices_are_checked(family):
    with pytest.raises(ValueError, match=r"engine must be one of \('batched', 'fast', 'hf'\), got 'vllm'"):
        MergeEvaluator("ps", family, engine="vllm")
    with pytest.raises(ValueError, match="device='meta' needs the batched engine"):
        MergeEvaluator("ps", family, engine="fast", device="meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            MergeEvaluator("ps", family, device="cuda")
    assert MergeEvaluator("ps", family, engine="fast").engine_version == "2"
    assert MergeEvaluator("ps", family, engine="fast", decode_attention="broadcast").engine_version == "1"
    assert MergeEvaluator("ps", family, engine="hf").engine_version is None


@pytest.mark.skipif(not (MINI_DIR / "A" / "model.safetensors").exists(), reason="the mini family has not been built")
@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_the_mini_family_gives_version_2_bits(space):
    """On the trained family: a random configuration's per-item bits equal version 2's."""
    from smm_bench_collection.samplers import make_sampler

    fam = mini_family()
    config = make_sampler("random", space, 3, batch_size=1).ask()[0]
    assert bits(MergeEvaluator(space, fam).evaluate(config)) == bits(MergeEvaluator(space, fam, engine="fast").evaluate(config))
