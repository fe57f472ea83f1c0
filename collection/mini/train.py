"""Train the mini model family on CPU: a base, then a math and a Japanese expert from it.

    python -m smm_bench_collection.mini.train --stage base --out collection/mini/models/base
    python -m smm_bench_collection.mini.train --stage math --init collection/mini/models/base --out collection/mini/models/math
    python -m smm_bench_collection.mini.train --stage ja   --init collection/mini/models/base --out collection/mini/models/ja

Recipe (why): the 7B sources are fine-tunes of one base, so task vectors are meaningful; the
mini family mirrors that. The base learns arithmetic (~half of its documents), English and
Japanese text, and word problems answered by a bare equation. Each expert updates only the
decoder layers (embeddings, final norm and lm_head stay the base's), with the loss on the
answer only, as in instruction tuning. Training is resumable: a checkpoint is written
atomically every ``--ckpt-every`` steps and a killed run continues from it with the same data
(the batch for step k is generated from ``(seed, k)``), so the result does not depend on kills.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import torch
from transformers import MistralConfig, MistralForCausalLM

from . import corpora
from .tokenizer import build_tokenizer

MODEL_DIMS = dict(hidden_size=32, intermediate_size=96, num_hidden_layers=32, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rope_theta=10000.0,
                  tie_word_embeddings=False, sliding_window=None)
"""Dims of the mini family: 32 decoder layers like Mistral-7B, so both search spaces keep their size."""

STAGES = {
    #        steps  batch  seq  lr     warmup
    "base": (2500, 64, 128, 3e-3, 100),
    "math": (800, 32, 0, 1e-3, 50),
    "ja": (800, 32, 0, 1e-3, 50),
}


def make_config(vocab_size: int) -> MistralConfig:
    cfg = MistralConfig(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=0, **MODEL_DIMS)
    cfg._attn_implementation = "sdpa"
    return cfg


def base_batch(tok, seed: int, step: int, batch: int, seq: int) -> torch.Tensor:
    """Pack ``<s>doc</s>`` units into ``batch`` rows of ``seq`` tokens (data for step k is fixed by (seed, k))."""
    docs = corpora.base_documents(seed * 1_000_003 + step)
    rows = []
    for _ in range(batch):
        ids: list[int] = []
        while len(ids) < seq:
            ids += [tok.bos_token_id] + tok(next(docs), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rows.append(ids[:seq])
    return torch.tensor(rows, dtype=torch.long)


def expert_batch(tok, kind: str, seed: int, step: int, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (prompt, answer) pairs; labels are -100 except on the answer and its ``</s>``."""
    pairs = corpora.expert_pairs(kind, seed * 1_000_003 + step)
    seqs, labels = [], []
    for _ in range(batch):
        p, a = next(pairs)
        pi = [tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"]
        ai = tok(a, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        seqs.append(pi + ai)
        labels.append([-100] * len(pi) + ai)
    n = max(map(len, seqs))
    ids = torch.full((batch, n), tok.pad_token_id, dtype=torch.long)
    lab = torch.full((batch, n), -100, dtype=torch.long)
    att = torch.zeros((batch, n), dtype=torch.long)
    for i, (s, l) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)] = torch.tensor(s)
        lab[i, : len(l)] = torch.tensor(l)
        att[i, : len(s)] = 1
    return ids, lab, att


def encode_prompts(tok, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``<s>`` + prompt, left-padded, with its attention mask (the layout greedy decoding needs)."""
    rows = [[tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    n = max(map(len, rows))
    ids = torch.full((len(rows), n), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, n - len(r):] = torch.tensor(r)
        att[i, n - len(r):] = 1
    return ids, att


_NUMBER = re.compile(r"\d*\.?\d+")


def _last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return float(found[-1]) if found else None


@torch.no_grad()
def quick_accuracy(model, tok, items: list[corpora.Item], max_new_tokens: int = 32) -> tuple[float, list[str]]:
    """Greedy answers to ``items`` (number right = last number equals gold); for training logs only."""
    model.eval()
    ids, att = encode_prompts(tok, [corpora.QA_FORMAT.format(question=it.question) for it in items])
    out = model.generate(input_ids=ids, attention_mask=att, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    texts = tok.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    ok = [_last_number(t) == it.answer_number for t, it in zip(texts, items)]
    model.train()
    return float(np.mean(ok)), texts


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup))))


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def train(stage: str, out: Path, init: Path | None, seed: int, threads: int, ckpt_every: int,
          steps: int | None = None) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    n_steps, batch, seq, lr, warmup = STAGES[stage]
    n_steps = steps or n_steps
    if stage == "base":
        model = MistralForCausalLM(make_config(len(tok)))
    else:
        model = MistralForCausalLM.from_pretrained(str(init), torch_dtype=torch.float32)
        for name, p in model.named_parameters():  # experts: decoder layers only
            p.requires_grad = ".layers." in name
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    ckpt = out / "checkpoint.pt"
    start = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["step"]
        print(f"resumed {stage} at step {start}", flush=True)
    gate = {"base": corpora.bare_equation_items(64, 77), "math": corpora.english_problem_items(64, 77),
            "ja": corpora.objective_items(64, 77)}[stage]
    log = open(out / "train_log.jsonl", "a")
    model.train()
    t0 = time.time()
    for step in range(start, n_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, n_steps, lr, warmup)
        if stage == "base":
            ids = base_batch(tok, seed, step, batch, seq)
            loss = model(input_ids=ids, labels=ids).loss
        else:
            ids, lab, att = expert_batch(tok, stage, seed, step, batch)
            loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        rec = {"step": step + 1, "loss": round(loss.item(), 4), "lr": opt.param_groups[0]["lr"],
               "elapsed": round(time.time() - t0, 1)}
        if (step + 1) % 250 == 0 or step + 1 == n_steps:
            acc, texts = quick_accuracy(model, tok, gate)
            rec.update(gate_acc=acc, sample=texts[:3])
        if (step + 1) % 25 == 0 or "gate_acc" in rec:
            log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            log.flush()
            print(json.dumps(rec, ensure_ascii=False), flush=True)
        if (step + 1) % ckpt_every == 0:
            _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1}, ckpt)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    (out / "recipe.json").write_text(json.dumps({
        "stage": stage, "init": str(init) if init else None, "seed": seed, "steps": n_steps, "batch": batch,
        "seq": seq, "lr": lr, "warmup": warmup, "dims": MODEL_DIMS, "torch": torch.__version__,
        "trainable": "all" if stage == "base" else "decoder layers only"}, indent=2))
    ckpt.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=sorted(STAGES), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--init", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--ckpt-every", type=int, default=100)
    a = ap.parse_args()
    train(a.stage, a.out, a.init, a.seed, a.threads, a.ckpt_every, a.steps)


if __name__ == "__main__":
    main()
