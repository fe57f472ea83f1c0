"""The true objective: merge configurations, answer both evaluation sets, judge every item.

``MergeEvaluator`` implements the ``Evaluator`` protocol of ``types.py`` for both spaces:

* PS: ``TaskArithmeticMerger.merge_ps`` writes the merge into one resident model in place;
* DFS: ``DataFlowMerger.build`` assembles the layer path over A's and B's shared tensors.

Then the objective and test prompts are decoded greedily and judged (``judge.py``), keeping
per-item bits. Prompts are tokenised once at construction: only the model changes between
configurations. ``evaluate_batch`` evaluates several configurations in one decoding pass (the
batched engine, ``batchlm``), in groups whose caches fit ``max_batch_bytes``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from smm_bench_plugin.spaces import N_LAYERS, N_SOURCES

from .batchlm import BatchedMistral, SharedPrefixes, UnitWeights
from .dfs import DataFlowMerger, dfs_config_to_path
from .engine_version import DECODE_ATTENTION, ENGINES, engine_version
from .family import Family
from .fastlm import FastMistral, LayerWeights
from .generate import greedy_generate
from .judge import judge_batch, truncate_at_stop
from .merge import TaskArithmeticMerger
from .types import Config, EvalResult, SetResult

MAX_BATCH_BYTES = 1 << 30
"""Key/value caches one decoding group may hold (a batch of 64 configurations runs in groups)."""


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

    ``engine`` (``engine_version.ENGINES``): "hf" decodes with the Hugging Face model (any
    architecture, the 7B path); "fast" uses ``FastMistral`` (Mistral arithmetic, one
    configuration at a time; engine versions 2 and 1, kept as references); "batched" uses
    ``BatchedMistral`` (version 3, several configurations at once). The default is the family's
    own choice (``Family.engine``). ``decode_attention`` picks the fast engine's decoding
    attention ("broadcast" is version 1). ``device`` runs the batched engine on another torch
    device ("cuda"); merges and judging stay on the CPU.
    """

    def __init__(self, space: str, family: Family, threads: int = 1, batch_size: int = 512,
                 engine: str | None = None, decode_attention: str = "bmm", device: str = "cpu",
                 max_batch_bytes: int = MAX_BATCH_BYTES):
        if space not in ("ps", "dfs"):
            raise ValueError(f"space must be 'ps' or 'dfs', got {space!r}")
        engine = engine or family.engine
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if decode_attention not in DECODE_ATTENTION:
            raise ValueError(f"decode_attention must be one of {DECODE_ATTENTION}, got {decode_attention!r}")
        self.device = torch.device(device)
        if self.device.type != "cpu" and engine != "batched":
            raise ValueError(f"device={device!r} needs the batched engine (engine='batched'), got engine={engine!r}")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device!r}, but torch sees no CUDA device (torch.cuda.is_available() is False)")
        torch.set_num_threads(threads)  # fixed threads: same config -> bit-identical result
        self.space, self.family, self.family_id, self.engine = space, family, family.family_id, engine
        self.decode_attention = decode_attention if engine == "fast" else None
        self.engine_version = engine_version(engine, decode_attention)
        self.batch_size, self.max_batch_bytes = batch_size, max_batch_bytes
        if space == "ps":
            base, sources = family.load_ps()
            self._merger = TaskArithmeticMerger(base, sources)
            target = self._merger.model
            # views of the merge buffer: every merge_ps updates them in place
            self._ps_layers = [LayerWeights.views_of(l) for l in target.model.layers]
        else:
            a, b = family.load_dfs()
            self._merger = DataFlowMerger(a, b)
            target = a
            self._dfs_layers = {"A": [LayerWeights.from_hf(l) for l in a.model.layers],
                                "B": [LayerWeights.from_hf(l) for l in b.model.layers]}
        if engine == "fast":
            self._fast = FastMistral(target, decode_attention=decode_attention)
        if engine == "batched":
            self._batched = BatchedMistral(target, self.device)
            if space == "dfs":  # A's and B's layers in the engine's form, once
                self._dfs_prepared = {m: [self._batched.prepare(lw) for lw in layers]
                                      for m, layers in self._dfs_layers.items()}
        tok = family.tokenizer
        self._rows = {name: [[tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"]
                             for p in s.prompts] for name, s in (("objective", family.objective), ("test", family.test))}
        rows = self._rows["objective"] + self._rows["test"]
        # the prompt batches the engines decode (version 2's generate calls), prefixes found once
        self._prompt_batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        self._prefixes = ([SharedPrefixes.of(b, self.device) for b in self._prompt_batches]
                          if engine == "batched" else [])

    def model_for(self, config: Config) -> torch.nn.Module:
        """The merged Hugging Face model of ``config`` (resident and rewritten in place for PS)."""
        if self.space == "ps":
            return self._merger.merge_ps(ps_weights(config))
        return self._merger.build(config)

    def prepare(self, config: Config):
        """Merge step: the HF model, the (layers, scales) of the fast engine, or the batched engine's
        ``UnitWeights`` (its own copy: preparing the next configuration does not change it)."""
        if self.engine == "hf":
            return self.model_for(config)
        if self.space == "ps":
            model = self._merger.merge_ps(ps_weights(config))
            if self.engine == "fast":
                return self._ps_layers, [1.0] * len(self._ps_layers)
            dev = self.device
            return UnitWeights([self._batched.prepare(lw) for lw in self._ps_layers], [1.0] * len(self._ps_layers),
                               *(t.detach().to(dev, copy=True) for t in (model.model.embed_tokens.weight,
                                                                         model.model.norm.weight, model.lm_head.weight)))
        path, scales = dfs_config_to_path(config)
        if self.engine == "fast":
            return [self._dfs_layers[s.model][s.layer] for s in path], scales
        a = self._merger.model_a
        return UnitWeights([self._dfs_prepared[s.model][s.layer] for s in path], scales,
                           *(t.detach().to(self.device) for t in (a.model.embed_tokens.weight, a.model.norm.weight,
                                                                  a.lm_head.weight)))

    def _generate_tokens(self, prepared, rows: Sequence[Sequence[int]]) -> list[list[int]]:
        f = self.family
        tokens = []
        for i in range(0, len(rows), self.batch_size):
            batch = rows[i:i + self.batch_size]
            if self.engine == "hf":
                tokens += greedy_generate(prepared, batch, f.max_new_tokens, f.stop_token_ids,
                                          f.tokenizer.pad_token_id)
            elif self.engine == "fast":
                tokens += self._fast.generate(prepared[0], prepared[1], batch, f.max_new_tokens, f.stop_token_ids,
                                              f.tokenizer.pad_token_id)
            else:
                tokens += self._batched.generate([(prepared, SharedPrefixes.of(batch, self.device))],
                                                 f.max_new_tokens, f.stop_token_ids)[0]
        return tokens

    def _texts(self, tokens: list[list[int]]) -> list[str]:
        f = self.family
        texts = f.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return [truncate_at_stop(t, f.stop_strings) for t in texts] if f.stop_strings else texts

    def generate(self, prepared, rows: Sequence[Sequence[int]]) -> list[str]:
        """Decode ``rows`` with a prepared merge; returns the response texts (stop strings applied)."""
        return self._texts(self._generate_tokens(prepared, rows))

    def responses(self, config: Config, rows: Sequence[Sequence[int]]) -> list[str]:
        return self.generate(self.prepare(config), rows)

    def _judge(self, texts: list[str]) -> tuple:
        n_obj = len(self._rows["objective"])
        return judge_batch(texts[:n_obj], self.family.objective.golds), judge_batch(texts[n_obj:], self.family.test.golds)

    def evaluate(self, config: Config) -> EvalResult:
        if self.engine == "batched":
            return self.evaluate_batch([config])[0]
        t0 = time.perf_counter()
        prepared = self.prepare(config)
        t1 = time.perf_counter()
        texts = self.generate(prepared, self._rows["objective"] + self._rows["test"])
        t2 = time.perf_counter()
        objective, test = self._judge(texts)
        t3 = time.perf_counter()
        return EvalResult(objective=objective, test=test, seconds=t3 - t0,
                          timings={"merge": t1 - t0, "generate": t2 - t1, "judge": t3 - t2},
                          engine_version=self.engine_version)

    def evaluate_batch(self, configs: Sequence[Config]) -> list[EvalResult]:
        """Evaluate ``configs`` together (the same results as one by one, in order).

        The batched engine decodes them in groups whose caches fit ``max_batch_bytes``; the other
        engines evaluate one by one. Each result's ``generate`` time is its own prefill plus an
        equal share of its group's decoding, so ``seconds`` sums to the batch's wall time.
        """
        if self.engine != "batched":
            return [self.evaluate(c) for c in configs]
        for config in configs:  # every configuration checked before any work
            ps_weights(config) if self.space == "ps" else dfs_config_to_path(config)
        results: list[EvalResult] = []
        for group in self._groups(list(configs)):
            results += self._evaluate_group(group)
        return results

    def answer_tokens(self, config: Config) -> list[list[int]]:
        """The greedy answer tokens of every prompt (objective then test) that ``evaluate`` judges."""
        if self.engine != "batched":
            return self._generate_tokens(self.prepare(config), self._rows["objective"] + self._rows["test"])
        return self.answer_batch([config])[0][0]

    def answer_batch(self, configs: Sequence[Config]) -> tuple[list[list[list[int]]], list[dict[str, float]]]:
        """Batched engine: each configuration's answer tokens (every prompt, objective then test),
        decoded together, and its ``merge`` and ``generate`` seconds (its own prefill plus an
        equal share of the batch's decoding)."""
        f = self.family
        merge, units = [], []
        for config in configs:
            t0 = time.perf_counter()
            units.append(self.prepare(config))
            merge.append(time.perf_counter() - t0)
        k = len(self._prefixes)
        timings: dict[str, float] = {}
        tokens = self._batched.generate([(w, p) for w in units for p in self._prefixes], f.max_new_tokens,
                                        f.stop_token_ids, timings)
        decode_share = timings["decode"] / len(configs)
        answers, seconds = [], []
        for c in range(len(configs)):
            answers.append([t for u in range(c * k, (c + 1) * k) for t in tokens[u]])
            seconds.append({"merge": merge[c], "generate": decode_share + sum(
                timings[f"prefill/{u}"] for u in range(c * k, (c + 1) * k))})
        return answers, seconds

    def _groups(self, configs: list[Config]) -> list[list[Config]]:
        """Consecutive groups whose caches fit ``max_batch_bytes`` (at least one configuration each)."""
        columns = max(p.width for p in self._prefixes) + self.family.max_new_tokens
        rows = sum(p.n_rows for p in self._prefixes)
        groups, size = [[]], 0
        for config in configs:
            depth = len(self._ps_layers) if self.space == "ps" else len(dfs_config_to_path(config)[0])
            need = self._batched.cache_bytes(depth, rows, columns)
            if groups[-1] and size + need > self.max_batch_bytes:
                groups.append([])
                size = 0
            groups[-1].append(config)
            size += need
        return groups

    def _evaluate_group(self, configs: list[Config]) -> list[EvalResult]:
        answers, seconds = self.answer_batch(configs)
        results = []
        for tokens, times in zip(answers, seconds):
            t0 = time.perf_counter()
            objective, test = self._judge(self._texts(tokens))
            times = {**times, "judge": time.perf_counter() - t0}
            results.append(EvalResult(objective=objective, test=test, seconds=sum(times.values()),
                                      timings={**times, "batch": float(len(configs))},
                                      engine_version=self.engine_version))
        return results

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
