"""PS merging: the fast in-place task arithmetic equals the paper's formula, tensor by tensor."""
import numpy as np
import pytest
import torch
from transformers import MistralForCausalLM

from smm_bench_collection.merge import TaskArithmeticMerger, layer_of, reference_merge_state_dict
from tiny_family import perturbed, tiny_config


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    base = MistralForCausalLM(tiny_config(40)).eval()
    return base, [perturbed(base, 1), perturbed(base, 2)]


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_fast_merge_equals_reference_formula(models):
    base, sources = models
    merger = TaskArithmeticMerger(base, sources)
    for seed in range(3):
        w = np.random.default_rng(seed).random((2, 32))
        merged = _params(merger.merge_ps(w))
        ref = reference_merge_state_dict(base, sources, w)
        assert max((merged[n] - ref[n]).abs().max().item() for n in ref) <= 1e-6


def test_unit_weights_reproduce_a_source_and_zero_weights_the_base(models):
    base, sources = models
    merger = TaskArithmeticMerger(base, sources)
    for m in range(2):
        w = np.zeros((2, 32)); w[m] = 1.0
        merged = _params(merger.merge_ps(w))
        src = dict(sources[m].named_parameters())
        assert max((merged[n] - src[n]).abs().max().item() for n in merged) <= 1e-6
    merged = _params(merger.merge_ps(np.zeros((2, 32))))
    assert all(torch.equal(merged[n], p) for n, p in base.named_parameters())


def test_layer_weights_act_per_layer_and_non_layer_tensors_use_the_mean(models):
    base, sources = models
    # make a non-layer tensor differ so the mean-weight rule is observable
    src = perturbed(sources[0], 9)
    with torch.no_grad():
        src.model.norm.weight.add_(1.0)
    merger = TaskArithmeticMerger(base, [src, sources[1]])
    w = np.zeros((2, 32)); w[0, 5] = 1.0  # only layer 5 of source 0
    merged = _params(merger.merge_ps(w))
    s = dict(src.named_parameters()); b = dict(base.named_parameters())
    for n in merged:
        if layer_of(n) == 5:
            assert torch.allclose(merged[n], s[n], atol=1e-6)
        elif layer_of(n) is not None:
            assert torch.equal(merged[n], b[n])
    expected = b["model.norm.weight"] + (1 / 32) * (s["model.norm.weight"] - b["model.norm.weight"])
    assert torch.allclose(merged["model.norm.weight"], expected, atol=1e-6)


def test_merges_do_not_drift_and_leave_sources_untouched(models):
    base, sources = models
    before = [_params(m) for m in [base, *sources]]
    merger = TaskArithmeticMerger(base, sources)
    w1, w2 = np.full((2, 32), 0.3), np.random.default_rng(1).random((2, 32))
    first = _params(merger.merge_ps(w1))
    merger.merge_ps(w2)
    again = _params(merger.merge_ps(w1))
    assert all(torch.equal(first[n], again[n]) for n in first)
    for m, ref in zip([base, *sources], before):
        assert all(torch.equal(p, ref[n]) for n, p in m.named_parameters())


def test_merged_model_runs_and_matches_a_model_loaded_from_the_reference(models):
    base, sources = models
    w = np.random.default_rng(5).random((2, 32))
    merged = TaskArithmeticMerger(base, sources).merge_ps(w)
    ref = MistralForCausalLM(base.config).eval()
    ref.load_state_dict(reference_merge_state_dict(base, sources, w))
    x = torch.randint(3, 40, (2, 9))
    with torch.no_grad():
        assert torch.allclose(merged(x).logits, ref(x).logits, atol=1e-4)


def test_shape_guards(models):
    base, sources = models
    with pytest.raises(ValueError, match=r"w must have shape \(2, 32\)"):
        TaskArithmeticMerger(base, sources).merge_ps(np.zeros((2, 31)))
    other = MistralForCausalLM(tiny_config(40, hidden=8))
    with pytest.raises(ValueError, match="has shape"):
        TaskArithmeticMerger(base, [other, sources[1]])


def test_extra_vocabulary_rows_of_a_source_are_cut_to_the_base(models):
    base, sources = models
    big = MistralForCausalLM(tiny_config(41)).eval()
    sd = {n: p.clone() for n, p in sources[0].state_dict().items()}
    for n in ("model.embed_tokens.weight", "lm_head.weight"):
        sd[n] = torch.cat([sd[n], torch.randn(1, sd[n].shape[1])])
    big.load_state_dict(sd)
    w = np.random.default_rng(2).random((2, 32))
    merged = _params(TaskArithmeticMerger(base, [big, sources[1]]).merge_ps(w))
    ref = reference_merge_state_dict(base, [sources[0], sources[1]], w)
    assert merged["lm_head.weight"].shape == ref["lm_head.weight"].shape
    assert max((merged[n] - ref[n]).abs().max().item() for n in ref) <= 1e-6


def test_bf16_models_merge_in_float32_and_round_once(models):
    """The 7B path: bf16 weights, float32 accumulation, equal to the reference bit for bit."""
    base, sources = models
    b16 = [m.to(torch.bfloat16) for m in (MistralForCausalLM(base.config), MistralForCausalLM(base.config),
                                          MistralForCausalLM(base.config))]
    for dst, src in zip(b16, [base, *sources]):
        dst.load_state_dict(src.state_dict())
    w = np.random.default_rng(3).random((2, 32))
    merged = _params(TaskArithmeticMerger(b16[0], b16[1:]).merge_ps(w))
    ref = reference_merge_state_dict(b16[0], b16[1:], w)
    assert all(merged[n].dtype == torch.bfloat16 and torch.equal(merged[n], ref[n]) for n in ref)
