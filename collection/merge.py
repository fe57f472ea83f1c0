"""Parameter-space merging (SMM-Bench-PS): layer-wise task arithmetic of fine-tunes of one base.

For source ``m`` and decoder layer ``l`` (the paper's task arithmetic)::

    theta_l = base_l + sum_m w[m, l] * (theta_{m,l} - base_l)

Tensors outside the decoder layers (embeddings, final norm, lm_head) use each source's mean
layer weight ``mean_l w[m, l]`` (a project decision: mergekit silently uses layer 0's weight).
Accumulation is in float32 whatever the storage dtype.

Why a class: an optimiser evaluates thousands of configurations against the same sources, so
the task vectors are computed once and kept flat, one row per layer; a new configuration is
then a single batched multiply-add into a buffer that the target model's parameters are views
of (no state_dict copies, no allocation per configuration).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def layer_of(name: str) -> int | None:
    """Decoder-layer index of a parameter name (``model.layers.7.mlp...`` -> 7), None outside layers."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


@dataclass
class _Group:
    """Parameters sharing one flat buffer: their names, shapes and offsets in the buffer."""

    names: list[str]
    shapes: list[torch.Size]
    offsets: list[int]
    size: int


def _group(named: dict[str, torch.Tensor], names: list[str]) -> _Group:
    offsets, shapes, off = [], [], 0
    for n in names:
        offsets.append(off)
        shapes.append(named[n].shape)
        off += named[n].numel()
    return _Group(names, shapes, offsets, off)


def _flat(named: dict[str, torch.Tensor], group: _Group, dtype: torch.dtype) -> torch.Tensor:
    return torch.cat([named[n].detach().reshape(-1).to(dtype) for n in group.names])


class TaskArithmeticMerger:
    """Layer-wise task arithmetic of ``sources`` on ``base`` into a target model, in place.

    ``merge_ps(w)`` writes the merged weights into ``self.model`` (a copy of the base whose
    parameters are views of flat buffers) and returns it. ``w`` has shape [n_sources, n_layers].
    """

    def __init__(self, base: nn.Module, sources: list[nn.Module], accumulate_dtype: torch.dtype = torch.float32):
        base_sd = dict(base.named_parameters())
        src_sds = [dict(s.named_parameters()) for s in sources]
        self.n_sources = len(sources)
        layer_ids = sorted({layer_of(n) for n in base_sd if layer_of(n) is not None})
        self.n_layers = len(layer_ids)
        if layer_ids != list(range(self.n_layers)):
            raise ValueError(f"decoder layers must be numbered 0..L-1, got {layer_ids[:5]}...")
        for i, sd in enumerate(src_sds):
            self._check_shapes(base_sd, sd, i)
        per_layer = [[n for n in base_sd if layer_of(n) == l] for l in range(self.n_layers)]
        self._layer_groups = [_group(base_sd, names) for names in per_layer]
        if len({g.size for g in self._layer_groups}) != 1:
            raise ValueError("decoder layers must all have the same parameter count for task arithmetic")
        self._other = _group(base_sd, [n for n in base_sd if layer_of(n) is None])
        self._acc = accumulate_dtype
        store = next(base.parameters()).dtype  # the model's own dtype (bf16 at 7B scale)
        self._fused = store == accumulate_dtype
        # Fused path (model dtype = accumulate dtype, e.g. the fp32 mini family): base layers
        # [L, P] and task vectors [L, M, P], so one batched multiply-add merges every layer.
        # Mixed path (bf16 models): base and SOURCES kept in the model dtype (no rounded task
        # vectors), each layer accumulated in float32 exactly as the reference formula, then
        # rounded once into the model: memory = base + sources + merged model.
        self._base_layers = torch.stack([_flat(base_sd, g, store) for g in self._layer_groups])
        src_layers = torch.stack([torch.stack([_flat(sd, g, store) for sd in src_sds]) for g in self._layer_groups])
        self._base_other = _flat(base_sd, self._other, store)
        src_other = torch.stack([_flat(self._common_rows(base_sd, sd), self._other, store) for sd in src_sds])
        if self._fused:
            self._tv_layers = src_layers - self._base_layers[:, None]
            self._tv_other = src_other - self._base_other
        else:
            self._src_layers, self._src_other = src_layers, src_other
        # the target model: a deep copy of the base whose parameters are views into two buffers
        self.model = copy.deepcopy(base)
        self._buf_layers = torch.empty_like(self._base_layers)
        self._buf_other = torch.empty_like(self._base_other)
        target = dict(self.model.named_parameters())
        for l, g in enumerate(self._layer_groups):
            self._bind(target, g, self._buf_layers[l])
        self._bind(target, self._other, self._buf_other)

    @staticmethod
    def _check_shapes(base_sd: dict, sd: dict, i: int) -> None:
        """Vocabulary-shape guard: only embedding-like tensors may differ, and only in their row count."""
        missing = set(base_sd) ^ set(sd)
        if missing:
            raise ValueError(f"source {i} has different parameter names than the base: {sorted(missing)[:5]}")
        for n, p in base_sd.items():
            q = sd[n]
            if p.shape == q.shape:
                continue
            if layer_of(n) is None and p.dim() == 2 and p.shape[1:] == q.shape[1:] and q.shape[0] >= p.shape[0]:
                continue  # a source with extra vocabulary rows: its first rows are used (see _common_rows)
            raise ValueError(f"source {i}: parameter {n} has shape {tuple(q.shape)}, base has {tuple(p.shape)}")

    @staticmethod
    def _common_rows(base_sd: dict, sd: dict) -> dict:
        """A source's tensors cut to the base's vocabulary size (extra tokens have no base to merge with)."""
        return {n: (q[: base_sd[n].shape[0]] if q.shape != base_sd[n].shape else q) for n, q in sd.items()}

    def _bind(self, target: dict, group: _Group, buf: torch.Tensor) -> None:
        for n, shape, off in zip(group.names, group.shapes, group.offsets):
            target[n].data = buf[off: off + int(np.prod(shape))].view(shape)

    def merge_ps(self, w: np.ndarray | torch.Tensor) -> nn.Module:
        """Write the task-arithmetic merge with weights ``w[m, l]`` into ``self.model`` and return it."""
        w = torch.as_tensor(np.asarray(w, dtype=np.float64), dtype=self._acc, device=self._base_layers.device)
        if w.shape != (self.n_sources, self.n_layers):
            raise ValueError(f"w must have shape ({self.n_sources}, {self.n_layers}), got {tuple(w.shape)}")
        if self._fused:
            # [L, 1, M] @ [L, M, P] + base -> [L, 1, P], written straight into the model's buffer
            torch.baddbmm(self._base_layers.unsqueeze(1), w.T.unsqueeze(1), self._tv_layers,
                          out=self._buf_layers.unsqueeze(1))
            torch.addmv(self._base_other, self._tv_other.T, w.mean(1), out=self._buf_other)
            return self.model
        for l in range(self.n_layers):
            self._buf_layers[l].copy_(self._accumulate(self._base_layers[l], self._src_layers[l], w[:, l]))
        self._buf_other.copy_(self._accumulate(self._base_other, self._src_other, w.mean(1)))
        return self.model

    def _accumulate(self, base: torch.Tensor, sources: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """base + sum_m w_m (source_m - base), in the accumulate dtype, in the reference's order."""
        b = base.to(self._acc)
        acc = b.clone()
        for m in range(sources.shape[0]):
            acc += weights[m] * (sources[m].to(self._acc) - b)
        return acc


def merge_ps(base: nn.Module, sources: list[nn.Module], w: np.ndarray) -> nn.Module:
    """One-shot layer-wise task arithmetic (see ``TaskArithmeticMerger`` for the repeated-use fast path)."""
    return TaskArithmeticMerger(base, sources).merge_ps(w)


def reference_merge_state_dict(base: nn.Module, sources: list[nn.Module], w: np.ndarray) -> dict[str, torch.Tensor]:
    """The task-arithmetic formula written naively, tensor by tensor: the oracle the fast path is tested against.

    Also the mixed-precision path for large models: accumulates in float32 and returns tensors
    in the base's dtype.
    """
    w = np.asarray(w, dtype=np.float64)
    out = {}
    src_sds = [dict(s.named_parameters()) for s in sources]
    for n, p in base.named_parameters():
        l = layer_of(n)
        acc = p.detach().to(torch.float32).clone()
        for m, sd in enumerate(src_sds):
            q = sd[n].detach()[: p.shape[0]] if sd[n].shape != p.shape else sd[n].detach()
            wm = float(w[m, l]) if l is not None else float(w[m].mean())
            acc += wm * (q.to(torch.float32) - p.detach().to(torch.float32))
        out[n] = acc.to(p.dtype)
    return out
