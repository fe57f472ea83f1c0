"""An inference-only Mistral forward pass over an explicit layer path, for the mini family's speed.

A true mini evaluation decodes ~400 short answers through a 32- to 64-layer model. With
Hugging Face modules most of that time is Python and per-op overhead (mask building, module
calls, rotary tables per layer), not arithmetic. This engine does the same arithmetic as
``MistralForCausalLM`` (pre-norm RMSNorm, grouped-query attention with rotary embeddings,
SwiGLU MLP) with fused q/k/v and gate/up matrices, one precomputed rotary table, one
preallocated KV cache per path position, and the DFS input scale folded in.

It is a *speed path*: tests check it against the Hugging Face model (same greedy tokens,
logits within float32 round-off), and the evaluator uses one engine for a whole dataset so
results stay bit-identical run to run. The 7B path keeps the Hugging Face model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .engine_version import DECODE_ATTENTION


@dataclass
class LayerWeights:
    """One decoder layer's matrices, fused: qkv [(H+2K)*d, D], o [D, H*d], gate_up [2I, D], down [D, I]."""

    qkv: torch.Tensor
    o: torch.Tensor
    gate_up: torch.Tensor
    down: torch.Tensor
    norm_in: torch.Tensor
    norm_post: torch.Tensor

    @classmethod
    def from_hf(cls, layer) -> "LayerWeights":
        a, m = layer.self_attn, layer.mlp
        return cls(
            qkv=torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).detach(),
            o=a.o_proj.weight.detach(),
            gate_up=torch.cat([m.gate_proj.weight, m.up_proj.weight]).detach(),
            down=m.down_proj.weight.detach(),
            norm_in=layer.input_layernorm.weight.detach(),
            norm_post=layer.post_attention_layernorm.weight.detach(),
        )

    @classmethod
    def views_of(cls, layer) -> "LayerWeights":
        """Fused matrices as *views* when q/k/v and gate/up are adjacent in memory (the PS merge buffer).

        Then rewriting the buffer in place updates these weights with no copy at all.
        """
        a, m = layer.self_attn, layer.mlp

        def adjacent(*ws):
            first = ws[0]
            n = sum(w.shape[0] for w in ws)
            if any(w.data_ptr() != first.data_ptr() + sum(v.numel() for v in ws[:i]) * first.element_size()
                   for i, w in enumerate(ws)):
                return torch.cat(ws)
            return first.detach().as_strided((n, first.shape[1]), (first.shape[1], 1))

        return cls(qkv=adjacent(a.q_proj.weight, a.k_proj.weight, a.v_proj.weight), o=a.o_proj.weight.detach(),
                   gate_up=adjacent(m.gate_proj.weight, m.up_proj.weight), down=m.down_proj.weight.detach(),
                   norm_in=layer.input_layernorm.weight.detach(),
                   norm_post=layer.post_attention_layernorm.weight.detach())


class FastMistral:
    """Greedy decoding with ``MistralForCausalLM`` arithmetic over any list of layers (see module doc)."""

    def __init__(self, model, max_positions: int = 256, decode_attention: str = "bmm"):
        if decode_attention not in DECODE_ATTENTION:
            raise ValueError(f"decode_attention must be one of {DECODE_ATTENTION}, got {decode_attention!r}")
        self.decode_attention = decode_attention
        cfg = model.config
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.embed = model.model.embed_tokens.weight.detach()
        self.norm = model.model.norm.weight.detach()
        self.lm_head = model.lm_head.weight.detach()
        theta = getattr(cfg, "rope_theta", None) or cfg.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float) / self.head_dim))
        freqs = torch.arange(max_positions, dtype=torch.float)[:, None] * inv_freq
        emb = torch.cat((freqs, freqs), -1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def _rms(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), -1)
        return x * cos + rot * sin

    def _attention(self, q, k, v, mask):
        """Grouped-query attention; prefill through SDPA, one-token decoding as batched matmuls.

        Why not ``scaled_dot_product_attention`` everywhere: on CPU with a boolean mask and one
        query per row it costs milliseconds of overhead per call for microseconds of arithmetic.
        Decoding instead groups the H // K query heads that share a key/value head into one
        [G, d] matrix, so each of the B * K (row, kv head) pairs is one small product with its
        cached keys, read as a view of the cache (no copy). ``decode_attention="broadcast"``
        keeps the earlier formulation (broadcast multiply and sum, which materialises a
        [B, K, G, L, d] tensor) as the reference that tests and ``python -m bench`` compare with.
        """
        B, H, T, d = q.shape
        K = k.shape[1]
        if T > 1 or mask is None:  # prefill (a one-token prompt too): causal, masked only when left-padded
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                                  enable_gqa=H != K)
        G, L = H // K, k.shape[2]
        if self.decode_attention == "broadcast":
            g = q.view(B, K, G, 1, d)
            scores = (g * k.unsqueeze(2)).sum(-1) * (d ** -0.5)  # [B, K, G, L]
            scores = scores.masked_fill(~mask.view(B, 1, 1, -1), float("-inf"))
            out = (scores.softmax(-1).unsqueeze(-1) * v.unsqueeze(2)).sum(-2)  # [B, K, G, d]
            return out.reshape(B, H, 1, d)
        scores = torch.bmm(q.reshape(B * K, G, d), k.reshape(B * K, L, d).transpose(1, 2)) * (d ** -0.5)
        scores = scores.view(B, K, G, L).masked_fill(~mask.view(B, 1, 1, -1), float("-inf"))
        out = torch.bmm(scores.softmax(-1).view(B * K, G, L), v.reshape(B * K, L, d))  # [B*K, G, d]
        return out.view(B, H, 1, d)

    def _layer(self, x, lw: LayerWeights, scale: float, cos, sin, kcache, vcache, write, mask):
        """One decoder layer on x [B, T, D]; stores this step's keys/values in the caches.

        ``write`` is an int (prefill: columns write..write+T of every row) or a tensor of one
        column per row (decoding right-padded rows, whose next positions differ).
        """
        if scale != 1.0:
            x = x * scale
        B, T, _ = x.shape
        H, K, d = self.n_heads, self.n_kv, self.head_dim
        qkv = self._rms(x, lw.norm_in) @ lw.qkv.T
        q = qkv[..., : H * d].view(B, T, H, d).transpose(1, 2)
        k = qkv[..., H * d: (H + K) * d].view(B, T, K, d).transpose(1, 2)
        v = qkv[..., (H + K) * d:].view(B, T, K, d).transpose(1, 2)
        q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
        if isinstance(write, int):
            kcache[:, :, write:write + T] = k
            vcache[:, :, write:write + T] = v
            end = write + T
        else:
            rows = torch.arange(B)
            kcache[rows, :, write] = k[:, :, 0]
            vcache[rows, :, write] = v[:, :, 0]
            end = mask.shape[-1]
        attn = self._attention(q, kcache[:, :, :end], vcache[:, :, :end], mask)
        x = x + attn.transpose(1, 2).reshape(B, T, H * d) @ lw.o.T
        gu = self._rms(x, lw.norm_post) @ lw.gate_up.T
        g, u = gu.chunk(2, -1)
        return x + (F.silu(g) * u) @ lw.down.T

    @torch.no_grad()
    def logits(self, layers: Sequence[LayerWeights], scales: Sequence[float], ids: torch.Tensor,
               att: torch.Tensor) -> torch.Tensor:
        """Logits of every position of left-padded ``ids`` (for tests against the HF model)."""
        B, T = ids.shape
        pos = (att.cumsum(1) - 1).clamp(min=0)
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]
        mask = self._prefill_mask(att)
        x = self.embed[ids]
        for lw, sc in zip(layers, scales):
            kc = torch.empty(B, self.n_kv, T, self.head_dim)
            vc = torch.empty_like(kc)
            x = self._layer(x, lw, sc, cos, sin, kc, vc, 0, mask)
        return self._rms(x, self.norm) @ self.lm_head.T

    @staticmethod
    def _prefill_mask(att: torch.Tensor) -> torch.Tensor:
        """Causal AND key-is-real, plus each query sees itself (pad queries would otherwise be all-masked: NaN)."""
        T = att.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        mask = causal[None] & att.bool()[:, None, :]
        return (mask | torch.eye(T, dtype=torch.bool)[None])[:, None]

    @torch.no_grad()
    def prefill(self, layers: Sequence[LayerWeights], scales: Sequence[float], rows: Sequence[Sequence[int]],
                max_new_tokens: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The prompts through every layer: (last-token logits, key cache, value cache, prompt lengths)."""
        lengths = torch.tensor([len(r) for r in rows])
        if int(lengths.min()) < 1:
            raise ValueError("every prompt needs at least one token")
        B, T = len(rows), int(lengths.max())
        ids = torch.full((B, T), pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        n = len(layers)
        # zeros, not empty: a short row's attention spans columns only longer rows have written;
        # they are masked, but masked weights (0) times uninitialised memory (maybe NaN) is NaN
        kc = torch.zeros(n, B, self.n_kv, T + max_new_tokens, self.head_dim)
        vc = torch.zeros_like(kc)
        cos, sin = self.cos[:T][None, None], self.sin[:T][None, None]
        x = self.embed[ids]
        for i, (lw, sc) in enumerate(zip(layers, scales)):
            x = self._layer(x, lw, sc, cos, sin, kc[i], vc[i], 0, None)
        return self._rms(x[torch.arange(B), lengths - 1], self.norm) @ self.lm_head.T, kc, vc, lengths

    @torch.no_grad()
    def generate(self, layers: Sequence[LayerWeights], scales: Sequence[float], rows: Sequence[Sequence[int]],
                 max_new_tokens: int, stop_ids: Sequence[int], pad_id: int) -> list[list[int]]:
        """Greedy continuation of each row until a stop token (not returned) or ``max_new_tokens``.

        Rows are RIGHT-padded: every real token sits at the index equal to its position, so the
        prefill is plain causal attention (SDPA's fast path, no mask; pads come after the real
        tokens and are never attended by them), and decoding writes each row's next token at its
        own column, masking the pad columns it has not overwritten yet.
        """
        if not rows:
            return []
        last, kc, vc, lengths = self.prefill(layers, scales, rows, max_new_tokens, pad_id)
        B = len(rows)
        write = lengths.clone()  # column (= position) of each row's next token
        stop = torch.tensor(sorted(set(stop_ids)), dtype=torch.long)
        alive = torch.arange(B)  # original row of each batch row
        running = torch.ones(B, dtype=torch.bool)  # batch rows still writing
        out: list[list[int]] = [[] for _ in rows]
        for step in range(max_new_tokens):
            nxt = last.argmax(-1)
            running &= ~torch.isin(nxt, stop)
            for r, t in zip(alive[running].tolist(), nxt[running].tolist()):
                out[r].append(t)
            if not bool(running.any()) or step == max_new_tokens - 1:
                break
            if 2 * int(running.sum()) <= len(running):
                # compact when half the batch has finished: copying the caches costs as much as a
                # few steps, so it pays only when it removes many rows
                keep = running.nonzero().squeeze(1)
                alive, nxt, write, running = alive[keep], nxt[keep], write[keep], running[keep]
                kc, vc = kc[:, keep], vc[:, keep]
            end = int(write.max()) + 1
            mask = (torch.arange(end)[None] <= write[:, None])[:, None, None]
            cos, sin = self.cos[write][:, None, None], self.sin[write][:, None, None]
            x = self.embed[nxt][:, None]
            for i, (lw, sc) in enumerate(zip(layers, scales)):
                x = self._layer(x, lw, sc, cos, sin, kc[i], vc[i], write, mask)
            last = self._rms(x[:, -1], self.norm) @ self.lm_head.T
            write = write + 1
        return out
