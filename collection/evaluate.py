"""The true objective: merge one configuration, answer both evaluation sets, judge every item.

``MergeEvaluator`` implements the ``Evaluator`` protocol of ``types.py`` for both spaces:

* PS: ``TaskArithmeticMerger.merge_ps`` writes the merge into one resident model in place;
* DFS: ``DataFlowMerger.build`` assembles the layer path over A's and B's shared tensors.

Then the objective and test prompts are decoded greedily in one batch and judged (``judge.py``),
keeping per-item bits. Prompts are tokenised once at construction: only the model changes
between configurations.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from smm_bench_plugin.spaces import N_LAYERS, N_SOURCES

from .dfs import DataFlowMerger, dfs_config_to_path
from .family import Family
from .fastlm import FastMistral, LayerWeights
from .generate import greedy_generate
from .judge import judge_batch, truncate_at_stop
from .merge import TaskArithmeticMerger
from .types import Config, EvalResult, SetResult



@dataclass
class PrefixResult:
    """A configuration scored on the first ``n_items`` objective items of the fixed visiting order
    (``fidelity.item_order``): the bits in visiting order, the prefix accuracy and what it cost."""

    objective: SetResult
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.objective.accuracy


def ps_weights(config: Config) -> np.ndarray:
    """The PS config dict (``w0_l00`` .. ``w1_l31``) as the weight matrix ``w[m, l]``, range-checked."""
    w = np.empty((N_SOURCES, N_LAYERS))
    for m in range(N_SOURCES):
        for l in range(N_LAYERS):
            name = f"w{m}_l{l:02d}"
            if name not in config:
                raise ValueError(f"PS config lacks {name} (a float in [0, 1])")
            v = float(config[name])
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v} is outside [0, 1]")
            w[m, l] = v
    return w


class MergeEvaluator:
    """Evaluator of one space on one family (see module docstring).

    ``engine="hf"`` decodes with the Hugging Face model (any architecture, the 7B path);
    ``engine="fast"`` uses ``FastMistral`` (Mistral arithmetic, far less overhead; the mini path).
    The default is the family's own choice (``Family.engine``). ``decode_attention`` picks the
    fast engine's decoding attention (``engine_version.DECODE_ATTENTION``; "broadcast" is the reference
    that ``recheck`` and the benchmark compare with).
    """

    def __init__(self, space: str, family: Family, threads: int = 1, batch_size: int = 512,
                 engine: str | None = None, decode_attention: str = "bmm"):
        if space not in ("ps", "dfs"):
            raise ValueError(f"space must be 'ps' or 'dfs', got {space!r}")
        engine = engine or family.engine
        if engine not in ("hf", "fast"):
            raise ValueError(f"engine must be 'hf' or 'fast', got {engine!r}")
        torch.set_num_threads(threads)  # fixed threads: same config -> bit-identical result
        self.space, self.family, self.family_id, self.engine = space, family, family.family_id, engine
        self.decode_attention = decode_attention if engine == "fast" else None
        self.batch_size = batch_size
        if space == "ps":
            base, sources = family.load_ps()
            self._merger = TaskArithmeticMerger(base, sources)
            if engine == "fast":  # views of the merge buffer: every merge_ps updates them in place
                self._fast = FastMistral(self._merger.model, decode_attention=decode_attention)
                self._ps_layers = [LayerWeights.views_of(l) for l in self._merger.model.model.layers]
        else:
            a, b = family.load_dfs()
            self._merger = DataFlowMerger(a, b)
            if engine == "fast":
                self._fast = FastMistral(a, decode_attention=decode_attention)
                self._dfs_layers = {"A": [LayerWeights.from_hf(l) for l in a.model.layers],
                                    "B": [LayerWeights.from_hf(l) for l in b.model.layers]}
        tok = family.tokenizer
        self._rows = {name: [[tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"]
                             for p in s.prompts] for name, s in (("objective", family.objective), ("test", family.test))}

    def model_for(self, config: Config) -> torch.nn.Module:
        """The merged Hugging Face model of ``config`` (resident and rewritten in place for PS)."""
        if self.space == "ps":
            return self._merger.merge_ps(ps_weights(config))
        return self._merger.build(config)

    def prepare(self, config: Config):
        """Merge step: the HF model, or the (layers, scales) of the fast engine, for ``config``."""
        if self.engine == "hf":
            return self.model_for(config)
        if self.space == "ps":
            self._merger.merge_ps(ps_weights(config))
            return self._ps_layers, [1.0] * len(self._ps_layers)
        path, scales = dfs_config_to_path(config)
        return [self._dfs_layers[s.model][s.layer] for s in path], scales

    def _generate_tokens(self, prepared, rows: Sequence[Sequence[int]]) -> list[list[int]]:
        f = self.family
        args = (f.max_new_tokens, f.stop_token_ids, f.tokenizer.pad_token_id)
        tokens = []
        for i in range(0, len(rows), self.batch_size):
            batch = rows[i:i + self.batch_size]
            if self.engine == "hf":
                tokens += greedy_generate(prepared, batch, *args)
            else:
                tokens += self._fast.generate(prepared[0], prepared[1], batch, *args)
        return tokens

    def generate(self, prepared, rows: Sequence[Sequence[int]]) -> list[str]:
        """Decode ``rows`` with a prepared merge; returns the response texts (stop strings applied)."""
        f = self.family
        texts = f.tokenizer.batch_decode(self._generate_tokens(prepared, rows), skip_special_tokens=True)
        return [truncate_at_stop(t, f.stop_strings) for t in texts] if f.stop_strings else texts

    def responses(self, config: Config, rows: Sequence[Sequence[int]]) -> list[str]:
        return self.generate(self.prepare(config), rows)

    def evaluate(self, config: Config) -> EvalResult:
        t0 = time.perf_counter()
        prepared = self.prepare(config)
        t1 = time.perf_counter()
        n_obj = len(self._rows["objective"])
        texts = self.generate(prepared, self._rows["objective"] + self._rows["test"])
        t2 = time.perf_counter()
        objective = judge_batch(texts[:n_obj], self.family.objective.golds)
        test = judge_batch(texts[n_obj:], self.family.test.golds)
        t3 = time.perf_counter()
        return EvalResult(objective=objective, test=test, seconds=t3 - t0,
                          timings={"merge": t1 - t0, "generate": t2 - t1, "judge": t3 - t2})

    def evaluate_prefix(self, config: Config, n_items: int) -> PrefixResult:
        """Merge ``config`` and score it on the first ``n_items`` objective items of the fixed visiting
        order only (a low fidelity; the test set is not scored): what a multi-fidelity optimiser's
        low-rung evaluation really costs. Greedy decoding gives each prompt the same tokens in any
        batch, so each item's verdict equals the one a full evaluation stores."""
        from .fidelity import item_order

        n_all = len(self._rows["objective"])
        if not 1 <= int(n_items) <= n_all:
            raise ValueError(f"n_items must be between 1 and the objective set's {n_all} items, got {n_items}")
        visit = item_order(n_all)[:int(n_items)]
        t0 = time.perf_counter()
        prepared = self.prepare(config)
        t1 = time.perf_counter()
        texts = self.generate(prepared, [self._rows["objective"][i] for i in visit])
        t2 = time.perf_counter()
        golds = self.family.objective.golds
        objective = judge_batch(texts, [golds[i] for i in visit])
        t3 = time.perf_counter()
        return PrefixResult(objective, t3 - t0, {"merge": t1 - t0, "generate": t2 - t1, "judge": t3 - t2})
