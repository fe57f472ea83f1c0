"""Many configurations in one greedy decoding pass: the mini family's batched engine (version 3).

A true mini evaluation decodes the same few hundred prompts for every configuration. Version 2
(``fastlm.FastMistral``) decodes them one configuration at a time. This engine takes a batch of
*units* (a unit is one configuration's decoder and one batch of prompts: what one
``FastMistral.generate`` call decoded) and

* prefills each unit once per distinct prompt *prefix*: prompts that begin alike have the same
  keys and values at those positions in every layer (causal attention makes a position's state a
  function of the tokens up to it), so the positions a prompt shares with its neighbour in sorted
  order are computed once (``SharedPrefixes``; 30% of the mini prompts' tokens);
* folds the rotary embedding's half rotation into the query and key weights (rows permuted and
  negated, which is exact), so rotating costs two products and a sum;
* decodes all units' rows together: every element-wise step runs once over all rows, every
  matrix product once per unit inside one call (``grouped_linear``), and attention takes one
  product per row for all heads instead of one per kv head.

The prefill is version 2's arithmetic exactly (same products per row, the same attention call
at the same padded width), so its logits are bit-identical to version 2's. Decoding sums the
same terms, but its attention products have another shape (one per row, not per kv head), so a
score can differ in the last bit; the tests bound that, and the recheck counts what it changes in
stored rows.

Why a configuration gets the same bits whatever batch it is in: every product a row takes part
in has a shape that does not depend on the other units. Attention runs per row over a number of
columns that is a function of the decoding step only; a unit's matrix products have its own rows,
never fewer than ``MIN_ROWS`` (below a few rows MKL takes another path, which rounds
differently: below 4 rows on AVX2 CPUs, below 5 for the 96-column product on an AVX-512 Xeon;
and when the batch drops finished rows depends on the other units). Tests check both (a unit
alone against the same unit in batches with other companions).

Why batching pays little on one CPU core and more on a GPU: here the per-row products (the
attention with each row's own cache, the prefill's attention at head dim 8) and the streaming
of the caches dominate, not per-operation overhead; on a GPU each operation's launch overhead
is what a batch of units shares.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .fastlm import FastMistral, LayerWeights

MIN_ROWS = 8
"""Rows a decoding unit keeps while any of its rows still runs (finished rows stay as padding)."""

COMPACT_SHARE = 0.25
"""Drop finished rows (copying the caches) once this share of the batch's rows has finished."""


def grouped_linear(x: torch.Tensor, weight_t: torch.Tensor, ends: torch.Tensor, ends_list: list[int]) -> torch.Tensor:
    """Rows ``x[s_g:e_g] @ weight_t[g]`` for consecutive row groups ending at ``ends``.

    One matrix product per group, exactly what ``torch.mm`` gives it (tested, empty and 1-row
    groups included). On CPU ``torch._grouped_mm`` runs them in one call; elsewhere (it wants
    bfloat16 on CUDA) they are looped.
    """
    if x.device.type == "cpu" and hasattr(torch, "_grouped_mm"):
        return torch._grouped_mm(x, weight_t, offs=ends)
    return looped_linear(x, weight_t, ends_list)


def looped_linear(x: torch.Tensor, weight_t: torch.Tensor, ends_list: list[int]) -> torch.Tensor:
    """``grouped_linear`` as a loop of ``torch.mm``, one per non-empty group."""
    out = x.new_empty(x.shape[0], weight_t.shape[-1])
    start = 0
    for g, end in enumerate(ends_list):
        if end > start:
            torch.mm(x[start:end], weight_t[g], out=out[start:end])
        start = end
    return out


@dataclass(frozen=True)
class SharedPrefixes:
    """One batch of prompts, every distinct prefix (a *node*) found once.

    In sorted order a prompt shares with its predecessor the longest prefix it shares with any
    earlier prompt, so walking the prompts sorted gives each position either its predecessor's
    node or a new one. A node's query sits at its *home*: its position in the first prompt that
    has it, where the prefill's attention computes its output.
    """

    lengths: torch.Tensor  # [B] tokens per prompt
    width: int  # the longest prompt: version 2's padded prefill length
    node_token: torch.Tensor  # [n]
    node_position: torch.Tensor  # [n]
    node_home: torch.Tensor  # [n] flat index prompt * width + position of the node's home
    cell_row: torch.Tensor  # [sum of lengths]: every prompt position ...
    cell_position: torch.Tensor
    cell_node: torch.Tensor  # ... and the node whose key and value it holds
    last_node: torch.Tensor  # [B] node of each prompt's last token

    @classmethod
    def of(cls, rows: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> "SharedPrefixes":
        rows = [tuple(int(t) for t in r) for r in rows]
        if not rows or min(len(r) for r in rows) < 1:
            raise ValueError("every prompt needs at least one token")
        width = max(len(r) for r in rows)
        nodes_of: dict[int, list[int]] = {}
        token, position, home = [], [], []
        previous = None
        for r in sorted(range(len(rows)), key=lambda i: (rows[i], i)):
            shared = 0
            if previous is not None:
                a, b = rows[previous], rows[r]
                while shared < min(len(a), len(b)) and a[shared] == b[shared]:
                    shared += 1
            nodes = nodes_of[previous][:shared] if shared else []
            for t in range(shared, len(rows[r])):
                nodes.append(len(token))
                token.append(rows[r][t])
                position.append(t)
                home.append(r * width + t)
            nodes_of[r] = nodes
            previous = r
        cells = [(r, t, n) for r in range(len(rows)) for t, n in enumerate(nodes_of[r])]

        def tensor(values) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.long, device=device)

        return cls(lengths=tensor([len(r) for r in rows]), width=width, node_token=tensor(token),
                   node_position=tensor(position), node_home=tensor(home),
                   cell_row=tensor([c[0] for c in cells]), cell_position=tensor([c[1] for c in cells]),
                   cell_node=tensor([c[2] for c in cells]),
                   last_node=tensor([nodes_of[r][-1] for r in range(len(rows))]))

    @property
    def n_rows(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.node_token.shape[0])


def with_rotated_qk(lw: LayerWeights, n_heads: int, n_kv: int, head_dim: int,
                    device: torch.device | str = "cpu") -> LayerWeights:
    """A decoder layer in the engine's form: a copy whose ``qkv`` has the q and k rows' rotated copies appended.

    ``qkv`` becomes [q; k; v; rot(q); rot(k)], rot(W) per head being the rows of
    ``cat(-W[d/2:], W[:d/2])``: then ``x @ rot(W).T`` is exactly ``rot(x @ W.T)`` (a permutation
    and a sign are exact), and the rotary embedding is ``qk * cos + qk_rot * sin``. A copy, since
    a PS layer's weights are views of the merge buffer, which the next merge rewrites.
    """
    d, half = head_dim, head_dim // 2

    def rotated(w: torch.Tensor, heads: int) -> torch.Tensor:
        w = w.reshape(heads, d, -1)
        return torch.cat([-w[:, half:], w[:, :half]], 1).reshape(heads * d, -1)

    q, k = lw.qkv[: n_heads * d], lw.qkv[n_heads * d: (n_heads + n_kv) * d]
    qkv = torch.cat([lw.qkv, rotated(q, n_heads), rotated(k, n_kv)])
    return LayerWeights(*(t.detach().to(device, copy=True) for t in
                          (qkv, lw.o, lw.gate_up, lw.down, lw.norm_in, lw.norm_post)))


@dataclass
class UnitWeights:
    """One configuration's decoder: its layer path, input scales, embedding, final norm and lm_head."""

    layers: list[LayerWeights]  # in the engine's form (with_rotated_qk)
    scales: list[float]
    embed: torch.Tensor
    norm: torch.Tensor
    lm_head: torch.Tensor

    @property
    def depth(self) -> int:
        return len(self.layers)


class BatchedMistral:
    """Greedy decoding of many units at once (see the module docstring)."""

    def __init__(self, model, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.reference = FastMistral(model)  # version 2: its rms norm and prefill attention are kept as they are
        ref = self.reference
        self.n_heads, self.n_kv, self.head_dim = ref.n_heads, ref.n_kv, ref.head_dim
        self.cos, self.sin = ref.cos.to(self.device), ref.sin.to(self.device)

    def prepare(self, lw: LayerWeights) -> LayerWeights:
        return with_rotated_qk(lw, self.n_heads, self.n_kv, self.head_dim, self.device)

    def cache_bytes(self, depth: int, rows: int, columns: int) -> int:
        """Memory of the keys and values of ``rows`` prompts of ``columns`` tokens through ``depth`` layers."""
        return 2 * 4 * depth * rows * columns * self.n_kv * self.head_dim

    def _rope(self, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotary embedding of the q and k columns, ``qk * cos + rot(qk) * sin`` per head, as version 2."""
        H, K, d = self.n_heads, self.n_kv, self.head_dim
        n = qkv.shape[0]
        qk = qkv[:, : (H + K) * d].view(n, H + K, d)
        qk_rot = qkv[:, (H + 2 * K) * d:].view(n, H + K, d)
        return (qk * cos + qk_rot * sin).view(n, (H + K) * d)

    def _values(self, qkv: torch.Tensor) -> torch.Tensor:
        H, K, d = self.n_heads, self.n_kv, self.head_dim
        return qkv[:, (H + K) * d: (H + 2 * K) * d]

    def _prefill(self, weights: UnitWeights, prompts: SharedPrefixes, first: int, capacity: int,
                 kc: list[torch.Tensor], vc: list[torch.Tensor]) -> torch.Tensor:
        """Run one unit's prompts through its path, writing cache rows ``first``..; returns the
        logits of each prompt's last token. Version 2's prefill, one row per node."""
        H, K, d = self.n_heads, self.n_kv, self.head_dim
        p, w = prompts, weights
        B, T = p.n_rows, p.width
        x = w.embed[p.node_token]
        cos, sin = self.cos[p.node_position][:, None], self.sin[p.node_position][:, None]
        cells = (first + p.cell_row) * capacity + p.cell_position  # flat (row, column) of every prompt token
        q_home = torch.zeros(B * T, H * d, device=self.device)  # queries off their home: unused rows of SDPA
        for i, (layer, scale) in enumerate(zip(w.layers, w.scales)):
            if scale != 1.0:
                x = x * scale
            qkv = self.reference._rms(x, layer.norm_in) @ layer.qkv.T
            qk = self._rope(qkv, cos, sin)
            kc[i].view(-1, K * d).index_copy_(0, cells, qk[:, H * d:].index_select(0, p.cell_node))
            vc[i].view(-1, K * d).index_copy_(0, cells, self._values(qkv).index_select(0, p.cell_node))
            q_home.index_copy_(0, p.node_home, qk[:, : H * d])
            q = q_home.view(B, T, H, d).transpose(1, 2)
            k = kc[i][first:first + B, :T].view(B, T, K, d).transpose(1, 2)
            v = vc[i][first:first + B, :T].view(B, T, K, d).transpose(1, 2)
            attn = self.reference._attention(q, k, v, None)  # [B, H, T, d]: SDPA, causal, as version 2
            x = x + attn.transpose(1, 2).reshape(B * T, H * d).index_select(0, p.node_home) @ layer.o.T
            gu = self.reference._rms(x, layer.norm_post) @ layer.gate_up.T
            g, u = gu.chunk(2, -1)
            x = x + (F.silu(g) * u) @ layer.down.T
        return self.reference._rms(x.index_select(0, p.last_node), w.norm) @ w.lm_head.T

    def _decode_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Attention of one new token per row over its cached keys and values ([rows, L, kv heads * d]).

        One product per row for all heads: each head's query sits in its kv head's block of a
        zero-padded [heads, kv heads * d] matrix, so its score is its kv head's dot product (the
        other blocks add exact zeros); of the output each head keeps its own block. The mask is
        a bias (0 or -inf), which is what ``masked_fill`` gave at a tenth of its cost. Version 2
        took one product per row and kv head: the same sums, twice the calls, and a product's
        call, not its arithmetic, is what costs at these sizes.
        """
        H, K, d = self.n_heads, self.n_kv, self.head_dim
        n = q.shape[0]
        G = H // K
        q_ext = q.new_zeros(n, K, G, K, d)
        q_ext.diagonal(dim1=1, dim2=3).copy_(q.view(n, K, G, d).permute(0, 2, 3, 1))
        scores = torch.bmm(q_ext.view(n, H, K * d), k.transpose(1, 2)) * (d ** -0.5) + bias
        out = torch.bmm(scores.softmax(-1), v).view(n, K, G, K, d)
        return out.diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2).reshape(n, H * d)

    @torch.no_grad()
    def generate(self, units: Sequence[tuple[UnitWeights, SharedPrefixes]], max_new_tokens: int,
                 stop_ids: Sequence[int], timings: dict[str, float] | None = None,
                 trace: list | None = None) -> list[list[list[int]]]:
        """Greedy continuation of every unit's prompts until a stop token (not returned) or ``max_new_tokens``.

        Returns each unit's tokens per prompt. ``timings``, if given, receives each unit's
        prefill seconds (``"prefill/<unit index>"``) and the batch's decoding seconds (``"decode"``);
        ``trace``, if given, every step's logits as ``(step, unit index, prompt index, logits)``
        per row (tests compare a unit's logits across batches).
        """
        if not units:
            return []
        # deepest paths first: the units still running at path position i are then a prefix of the rows
        order = sorted(range(len(units)), key=lambda u: -units[u][0].depth)
        width = max(p.width for _, p in units)
        capacity = width + max_new_tokens
        sizes = [units[u][1].n_rows for u in order]
        depths = [units[u][0].depth for u in order]
        rows_at = [sum(s for s, dp in zip(sizes, depths) if dp > i) for i in range(depths[0])]
        kc = [torch.zeros(n, capacity, self.n_kv * self.head_dim, device=self.device) for n in rows_at]
        vc = [torch.zeros_like(c) for c in kc]
        last, first = [], 0
        for u, size in zip(order, sizes):
            t0 = time.perf_counter()
            last.append(self._prefill(*units[u], first, capacity, kc, vc))
            first += size
            if timings is not None:
                timings[f"prefill/{u}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        batch = _Decoding(self, [units[u] for u in order], width, capacity, kc, vc, torch.cat(last))
        answers = batch.run(max_new_tokens, stop_ids, None if trace is None else (trace, order))
        if timings is not None:
            timings["decode"] = time.perf_counter() - t0
        out: list[list[list[int]]] = [[] for _ in units]
        for u, tokens in zip(order, answers):
            out[u] = tokens
        return out


class _Decoding:
    """The decoding batch: every unit's rows in one flat layout, units in order, deepest first."""

    def __init__(self, engine: BatchedMistral, units: list[tuple[UnitWeights, SharedPrefixes]], width: int,
                 capacity: int, kc: list[torch.Tensor], vc: list[torch.Tensor], last: torch.Tensor):
        dev = engine.device
        self.engine, self.width, self.capacity, self.kc, self.vc, self.last = engine, width, capacity, kc, vc, last
        sizes = [p.n_rows for _, p in units]
        self.answers: list[list[list[int]]] = [[[] for _ in range(s)] for s in sizes]
        self.row_unit = torch.repeat_interleave(torch.arange(len(units), device=dev), torch.tensor(sizes, device=dev))
        self.row_prompt = torch.cat([torch.arange(s, device=dev) for s in sizes])
        self.write = torch.cat([p.lengths for _, p in units])  # column (= position) of each row's next token
        self.running = torch.ones(len(self.write), dtype=torch.bool, device=dev)
        self.floor = torch.tensor([min(MIN_ROWS, s) for s in sizes], device=dev)
        self._stack([w for w, _ in units])
        self._layout()

    def _stack(self, weights: list[UnitWeights]) -> None:
        """Per path position, every unit's matrices stacked (transposed for ``grouped_linear``); a unit
        whose path is shorter gets another unit's: it has no rows there."""
        dev = self.engine.device

        def stack(tensors: list[torch.Tensor], transpose: bool) -> torch.Tensor:
            out = torch.stack(tensors)
            return out.transpose(1, 2) if transpose else out

        self.layers = []
        for i in range(weights[0].depth):
            layers = [w.layers[min(i, w.depth - 1)] for w in weights]
            self.layers.append({
                **{name: stack([getattr(layer, name) for layer in layers], True)
                   for name in ("qkv", "o", "gate_up", "down")},
                **{name: stack([getattr(layer, name) for layer in layers], False) for name in ("norm_in", "norm_post")},
                "scale": torch.tensor([w.scales[i] if i < w.depth else 1.0 for w in weights], device=dev)})
        self.head = {"norm": stack([w.norm for w in weights], False), "lm_head": stack([w.lm_head for w in weights], True),
                     "embed": torch.cat([w.embed for w in weights])}
        self.vocab = weights[0].embed.shape[0]

    def _layout(self) -> None:
        """Group ends and each row's per-unit vectors (norm weights, scales), after the rows changed."""
        sizes = torch.bincount(self.row_unit, minlength=len(self.answers))
        self.ends = sizes.cumsum(0).to(torch.int32)
        self.ends_list = self.ends.tolist()
        self.row_layers = [{name: layer[name][self.row_unit[:c.shape[0]]] for name in ("norm_in", "norm_post", "scale")}
                           for layer, c in zip(self.layers, self.kc)]
        self.final_norm = self.head["norm"][self.row_unit]
        self.embed_row = self.row_unit * self.vocab

    def run(self, max_new_tokens: int, stop_ids: Sequence[int], trace: tuple[list, list[int]] | None = None
            ) -> list[list[list[int]]]:
        stop = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=self.engine.device)
        for step in range(max_new_tokens):
            if trace is not None:
                unit = torch.tensor(trace[1], device=self.row_unit.device)[self.row_unit]
                trace[0].append((step, unit.cpu(), self.row_prompt.cpu(), self.last[:len(self.row_unit)].cpu()))
            self.nxt = self.last.argmax(-1)
            self.running &= ~torch.isin(self.nxt, stop)
            picked = self.running.nonzero().squeeze(1)
            for u, r, t in zip(self.row_unit[picked].tolist(), self.row_prompt[picked].tolist(),
                               self.nxt[picked].tolist()):
                self.answers[u][r].append(t)
            if step == max_new_tokens - 1 or not bool(self.running.any()):
                break
            self._compact()
            self.last = self._step(step)
            self.write = self.write + 1
        return self.answers

    def _compact(self) -> None:
        """Drop finished rows once ``COMPACT_SHARE`` of the batch has finished; a unit with a row
        still running keeps at least ``MIN_ROWS`` rows (its first finished rows as padding)."""
        n_units = len(self.answers)
        finished = ~self.running
        running = torch.zeros(n_units, dtype=torch.long, device=finished.device).index_add_(
            0, self.row_unit, self.running.long())
        done = torch.zeros_like(running).index_add_(0, self.row_unit, finished.long())
        rank = torch.cumsum(finished.long(), 0) - finished.long() - (torch.cumsum(done, 0) - done)[self.row_unit]
        pad = (self.floor - running).clamp(min=0) * (running > 0)
        keep = self.running | (finished & (rank < pad[self.row_unit]))
        if len(keep) - int(keep.sum()) < COMPACT_SHARE * len(keep):
            return
        keep = keep.nonzero().squeeze(1)
        self.row_unit, self.row_prompt = self.row_unit[keep], self.row_prompt[keep]
        self.write, self.running, self.nxt = self.write[keep], self.running[keep], self.nxt[keep]
        for i in range(len(self.kc)):
            here = keep[keep < self.kc[i].shape[0]]
            self.kc[i], self.vc[i] = self.kc[i][here], self.vc[i][here]
        self._layout()

    def _step(self, step: int) -> torch.Tensor:
        """One token for every row through its unit's path; returns the next logits."""
        e = self.engine
        H, K, d = e.n_heads, e.n_kv, e.head_dim
        n_rows = len(self.write)
        # the columns every row's attention spans: a function of the step only, so no product's
        # shape depends on the other rows in the batch
        L = self.width + step + 1
        bias = torch.zeros(n_rows, 1, L, device=e.device).masked_fill_(
            (torch.arange(L, device=e.device)[None] > self.write[:, None])[:, None], float("-inf"))
        cos, sin = e.cos[self.write][:, None], e.sin[self.write][:, None]
        x = self.head["embed"][self.embed_row + self.nxt]
        for i, (layer, row) in enumerate(zip(self.layers, self.row_layers)):
            n = self.kc[i].shape[0]  # rows of the units whose path reaches position i: a prefix
            ends = self.ends.clamp(max=n)
            ends_list = [min(end, n) for end in self.ends_list]
            h = x[:n]
            if bool((row["scale"] != 1.0).any()):
                h = h * row["scale"][:, None]
            qkv = grouped_linear(e.reference._rms(h, row["norm_in"]), layer["qkv"], ends, ends_list)
            qk = e._rope(qkv, cos[:n], sin[:n])
            slots = torch.arange(n, device=e.device) * self.capacity + self.write[:n]
            self.kc[i].view(-1, K * d).index_copy_(0, slots, qk[:, H * d:])
            self.vc[i].view(-1, K * d).index_copy_(0, slots, e._values(qkv))
            attn = e._decode_attention(qk[:, : H * d], self.kc[i][:, :L], self.vc[i][:, :L], bias[:n])
            h = h + grouped_linear(attn, layer["o"], ends, ends_list)
            gu = grouped_linear(e.reference._rms(h, row["norm_post"]), layer["gate_up"], ends, ends_list)
            g, up = gu.chunk(2, -1)
            h = h + grouped_linear(F.silu(g) * up, layer["down"], ends, ends_list)
            x = h if n == n_rows else torch.cat([h, x[n:]])
        return grouped_linear(e.reference._rms(x, self.final_norm), self.head["lm_head"], self.ends, self.ends_list)
