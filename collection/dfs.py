"""Data-flow-space merging (SMM-Bench-DFS): a new layer path through two models' decoder layers.

The path has 64 positions: A_0 … A_30, then 32 slots, then A_31. Slot i holds layer i
of model A, layer i of model B, or nothing. Every path position p >= 1 has an input scale: the
hidden state (residual stream) entering the layer at position p is multiplied by ``scale[p]``
before the layer runs; position 0's scale is fixed to 1.0 and a skipped slot's scale has no
effect. Embeddings, final norm and lm_head are model A's.

Why new layer objects: Hugging Face's KV cache is keyed by ``self_attn.layer_idx``. Reusing
one layer object twice in a path would make both uses write the same cache slot, silently
corrupting generation. Each path position therefore gets its own decoder-layer object with a
distinct ``layer_idx`` whose parameters are the source layer's tensors (shared, not copied).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

N_SLOTS = 32
N_POSITIONS = 64  # 31 + 32 + 1
SLOT_CHOICES = ("A", "B", "none")


@dataclass(frozen=True)
class PathStep:
    """One layer on the realised path: which model, which of its layers, which path position."""

    model: str  # "A" or "B"
    layer: int
    position: int


def dfs_path(slots: Sequence[str]) -> list[PathStep]:
    """The realised layer path for 32 slot choices (``"none"`` slots are dropped)."""
    if len(slots) != N_SLOTS:
        raise ValueError(f"DFS needs {N_SLOTS} slot choices, got {len(slots)}")
    path = [PathStep("A", i, i) for i in range(31)]
    for i, s in enumerate(slots):
        if s not in SLOT_CHOICES:
            raise ValueError(f"slot{i:02d} must be one of {SLOT_CHOICES}, got {s!r}")
        if s != "none":
            path.append(PathStep(s, i, 31 + i))
    path.append(PathStep("A", 31, 63))
    return path


def dfs_config_to_path(config: dict) -> tuple[list[PathStep], list[float]]:
    """Read a DFS config dict (``slot00``.., ``scale01``..) into (path, scales of its positions)."""
    slots = [config[f"slot{i:02d}"] for i in range(N_SLOTS)]
    scales_by_pos = [1.0] + [float(config[f"scale{p:02d}"]) for p in range(1, N_POSITIONS)]
    path = dfs_path(slots)
    return path, [scales_by_pos[s.position] for s in path]


class ScaledLayer(nn.Module):
    """A decoder layer whose input hidden state is multiplied by a fixed scale."""

    def __init__(self, layer: nn.Module, scale: float):
        super().__init__()
        self.layer = layer
        self.scale = float(scale)

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        if self.scale != 1.0:
            hidden_states = hidden_states * self.scale
        return self.layer(hidden_states, *args, **kwargs)


def _layer_view(layer: nn.Module, layer_idx: int) -> nn.Module:
    """A new decoder-layer object sharing ``layer``'s parameter tensors, with its own cache index."""
    view = copy.copy(layer)
    view._modules = dict(layer._modules)
    attn = copy.copy(layer.self_attn)
    attn._modules = dict(layer.self_attn._modules)
    attn.layer_idx = layer_idx
    view._modules["self_attn"] = attn
    return view


class DataFlowMerger:
    """Builds DFS-merged models from model A and model B (Hugging Face causal LMs of one architecture).

    ``build(config)`` returns a causal LM whose decoder runs the path of ``config``; it shares
    every tensor with A and B, so building one costs microseconds and no memory.
    """

    def __init__(self, model_a: nn.Module, model_b: nn.Module):
        la, lb = model_a.model.layers, model_b.model.layers
        if len(la) != N_SLOTS or len(lb) != N_SLOTS:
            raise ValueError(f"DFS needs two {N_SLOTS}-layer models, got {len(la)} and {len(lb)}")
        self.model_a, self.model_b = model_a, model_b
        self._layers = {"A": list(la), "B": list(lb)}

    def build(self, config: dict) -> nn.Module:
        path, scales = dfs_config_to_path(config)
        return self.build_path(path, scales)

    def build_path(self, path: list[PathStep], scales: list[float]) -> nn.Module:
        merged = copy.copy(self.model_a)
        merged._modules = dict(self.model_a._modules)
        inner = copy.copy(self.model_a.model)
        inner._modules = dict(self.model_a.model._modules)
        inner._modules["layers"] = nn.ModuleList(
            [ScaledLayer(_layer_view(self._layers[s.model][s.layer], i), sc) for i, (s, sc) in enumerate(zip(path, scales))])
        cfg = copy.deepcopy(self.model_a.config)
        cfg.num_hidden_layers = len(path)
        if getattr(cfg, "layer_types", None) is not None:
            cfg.layer_types = [cfg.layer_types[0]] * len(path)
        inner.config = cfg
        merged.config = cfg
        merged._modules["model"] = inner
        return merged
