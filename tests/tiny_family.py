"""A tiny but real mini-family folder for tests: random-init MistralForCausalLM sources on the real tokenizer.

The sources are fine-tune-like perturbations of one base (decoder layers only, as in the mini
recipe), so merges are real merges; the models know nothing, which is fine for testing code paths.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import MistralConfig, MistralForCausalLM

from smm_bench_collection.mini.tokenizer import build_tokenizer


def tiny_config(vocab_size: int, hidden: int = 16, heads: int = 2, kv_heads: int = 1) -> MistralConfig:
    cfg = MistralConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                        num_hidden_layers=32, num_attention_heads=heads, num_key_value_heads=kv_heads,
                        max_position_embeddings=256, tie_word_embeddings=False, bos_token_id=1,
                        eos_token_id=2, pad_token_id=0)
    cfg._attn_implementation = "sdpa"
    return cfg


def perturbed(model: MistralForCausalLM, seed: int, scale: float = 0.5) -> MistralForCausalLM:
    g = torch.Generator().manual_seed(seed)
    out = MistralForCausalLM(model.config)
    out.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, p in out.named_parameters():
            if ".layers." in name:
                p.add_(scale * p.std() * torch.randn(p.shape, generator=g))
    return out.eval()


def make_tiny_family(root: Path, hidden: int = 16, heads: int = 2, kv_heads: int = 1) -> Path:
    """Write base/, ja/, math/ and A/ under ``root`` (each a saved model + tokenizer); the default
    shape has 2 heads sharing one kv head, ``heads=4, kv_heads=2`` the mini family's grouping."""
    torch.manual_seed(0)
    tok = build_tokenizer()
    base = MistralForCausalLM(tiny_config(len(tok), hidden, heads, kv_heads)).eval()
    with torch.no_grad():
        for p in base.parameters():
            p.mul_(4.0)  # sharper logits: random models then stop at different lengths
    models = {"base": base, "ja": perturbed(base, 1), "math": perturbed(base, 2), "A": perturbed(base, 3)}
    for name, m in models.items():
        m.save_pretrained(str(root / name))
        tok.save_pretrained(str(root / name))
    return root
