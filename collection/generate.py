"""Batched greedy decoding for causal LMs, as lean as the evaluation loop needs.

Why not ``model.generate``: a true evaluation decodes a few hundred short answers per
configuration, thousands of times; the loop here keeps only what greedy decoding needs (one
KV cache, logits of the last position only, finished rows dropped from the batch) and is
written so that the same prompt gives the same tokens whatever its batch (left padding with
an explicit attention mask and position ids).
"""
from __future__ import annotations

import inspect
from typing import Sequence

import torch
from transformers import DynamicCache


def _cache_kwarg(model) -> str:
    """The forward() keyword for the KV cache: ``cache`` (transformers >= 5.24, where
    ``past_key_values`` is deprecated) or ``past_key_values`` (earlier releases)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token rows into ``(input_ids, attention_mask)``."""
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    att = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r):
            ids[i, n - len(r):] = torch.as_tensor(list(r), dtype=torch.long)
            att[i, n - len(r):] = 1
    return ids, att


@torch.no_grad()
def greedy_generate(model, rows: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: Sequence[int],
                    pad_id: int) -> list[list[int]]:
    """Greedy continuation of each token row; a row ends at its first stop token (not returned).

    Rows are decoded together; a finished row leaves the batch (its cache rows are dropped), so
    the cost follows the longest answers only while they are being written.
    """
    if not rows:
        return []
    ids, att = left_pad(rows, pad_id)
    pos = (att.cumsum(1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    stop = torch.tensor(sorted(set(stop_ids)), dtype=torch.long)
    out: list[list[int]] = [[] for _ in rows]
    alive = torch.arange(len(rows))
    kv = _cache_kwarg(model)
    logits = model(input_ids=ids, attention_mask=att, position_ids=pos, **{kv: cache},
                   use_cache=True, logits_to_keep=1).logits[:, -1]
    next_pos = pos[:, -1] + 1
    for _ in range(max_new_tokens):
        nxt = logits.argmax(-1)
        done = torch.isin(nxt, stop)
        for i, t in zip(alive[~done].tolist(), nxt[~done].tolist()):
            out[i].append(t)
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            alive, nxt, att, next_pos = alive[keep], nxt[keep], att[keep], next_pos[keep]
            cache.batch_select_indices(keep)
        att = torch.cat([att, torch.ones((len(alive), 1), dtype=att.dtype)], 1)
        logits = model(input_ids=nxt[:, None], attention_mask=att, position_ids=next_pos[:, None],
                       **{kv: cache}, use_cache=True).logits[:, -1]
        next_pos = next_pos + 1
    return out
