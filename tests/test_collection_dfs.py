"""DFS merging: the layer path, the input scales and the KV-cache slots (docs/ARCHITECTURE.md, the DFS path)."""
import copy

import numpy as np
import pytest
import torch
from transformers import MistralForCausalLM

from smm_bench_collection.dfs import DataFlowMerger, dfs_config_to_path, dfs_path
from tiny_family import perturbed, tiny_config


@pytest.fixture(scope="module")
def ab():
    torch.manual_seed(0)
    a = MistralForCausalLM(tiny_config(40)).eval()
    with torch.no_grad():
        for p in a.parameters():
            p.mul_(4.0)
    return a, perturbed(a, 7, scale=1.0)


def identity_config():
    c = {f"slot{i:02d}": "none" for i in range(32)}
    c.update({f"scale{p:02d}": 1.0 for p in range(1, 64)})
    return c


def random_config(seed):
    rng = np.random.default_rng(seed)
    c = {f"slot{i:02d}": str(rng.choice(["A", "B", "none"])) for i in range(32)}
    c.update({f"scale{p:02d}": float(rng.uniform(0.4, 1.5)) for p in range(1, 64)})
    return c


def greedy_without_cache(model, x, n):
    y = x.clone()
    for _ in range(n):
        nxt = model(y, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
        y = torch.cat([y, nxt], 1)
    return y


def test_path_layout():
    path = dfs_path(["A"] * 3 + ["none"] * 28 + ["B"])
    assert [(s.model, s.layer, s.position) for s in path[:31]] == [("A", i, i) for i in range(31)]
    assert [(s.model, s.layer, s.position) for s in path[31:]] == [("A", 0, 31), ("A", 1, 32), ("A", 2, 33),
                                                                  ("B", 31, 62), ("A", 31, 63)]
    c = identity_config(); c["slot00"] = "B"; c["scale31"] = 0.5; c["scale40"] = 1.4; c["scale05"] = 0.9
    path, scales = dfs_config_to_path(c)
    assert len(path) == 33 and scales[31] == 0.5 and scales[5] == 0.9
    assert 1.4 not in scales  # slot09 (position 40) is skipped: its scale has no effect
    with pytest.raises(ValueError, match="slot03"):
        dfs_path(["A"] * 3 + ["C"] + ["none"] * 28)


def test_identity_path_reproduces_model_a_exactly(ab):
    a, b = ab
    merged = DataFlowMerger(a, b).build(identity_config())
    x = torch.randint(3, 40, (3, 11))
    with torch.no_grad():
        assert torch.equal(merged(x).logits, a(x).logits)
        assert torch.equal(merged.generate(x, max_new_tokens=6, do_sample=False, pad_token_id=0),
                           a.generate(x, max_new_tokens=6, do_sample=False, pad_token_id=0))


def test_scale_multiplies_the_residual_stream_entering_the_layer(ab):
    a, b = ab
    c = identity_config(); c["scale07"] = 0.5
    merged = DataFlowMerger(a, b).build(c)
    ref = copy.deepcopy(a)
    layer = ref.model.layers[7]
    orig = layer.forward
    layer.forward = lambda h, *args, **kw: orig(h * 0.5, *args, **kw)
    x = torch.randint(3, 40, (2, 8))
    with torch.no_grad():
        assert torch.allclose(merged(x).logits, ref(x).logits, atol=1e-5)
        assert not torch.allclose(merged(x).logits, a(x).logits, atol=1e-3)


def test_repeated_layers_get_their_own_cache_slots(ab):
    a, b = ab
    merger = DataFlowMerger(a, b)
    x = torch.randint(3, 40, (2, 10))
    for seed in range(3):
        merged = merger.build(random_config(seed))
        assert len({l.layer.self_attn.layer_idx for l in merged.model.layers}) == len(merged.model.layers)
        with torch.no_grad():
            cached = merged.generate(x, max_new_tokens=8, do_sample=False, pad_token_id=0)
            assert torch.equal(cached, greedy_without_cache(merged, x, 8))
    assert [l.self_attn.layer_idx for l in a.model.layers] == list(range(32)) and a.config.num_hidden_layers == 32


def test_naive_layer_reuse_corrupts_the_cache(ab):
    """The negative control: reusing layer objects (shared layer_idx) breaks cached decoding."""
    a, b = ab
    naive = copy.deepcopy(a)
    layers = list(naive.model.layers)
    naive.model.layers = torch.nn.ModuleList(layers[:31] + layers[:31] + layers[31:])
    naive.config.num_hidden_layers = len(naive.model.layers)
    if getattr(naive.config, "layer_types", None) is not None:
        naive.config.layer_types = [naive.config.layer_types[0]] * len(naive.model.layers)
    x = torch.randint(3, 40, (2, 10))
    with torch.no_grad():
        cached = naive.generate(x, max_new_tokens=8, do_sample=False, pad_token_id=0)
        assert not torch.equal(cached, greedy_without_cache(naive, x, 8))


def test_building_shares_tensors_and_changes_nothing(ab):
    a, b = ab
    before = {n: p.clone() for n, p in a.named_parameters()}
    merged = DataFlowMerger(a, b).build(random_config(3))
    shared = {p.data_ptr() for p in a.parameters()} | {p.data_ptr() for p in b.parameters()}
    assert all(p.data_ptr() in shared for p in merged.parameters())
    assert all(torch.equal(p, before[n]) for n, p in a.named_parameters())
