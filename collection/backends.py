"""Generation backends: ``generate(prompts, max_new_tokens) -> responses`` on a model whose
weights the evaluator rewrites in place between configurations.

Decoding follows Akiba et al. (see ``judge.py`` for the reference): greedy, no sampling penalties,
generation stops at "Instruction"/"Response" (cut before the marker) or at EOS.

* :class:`HFBackend`: any transformers causal LM, CPU or GPU. Batched with LEFT padding and an
  explicit attention mask (right padding would put pads between prompt and answer). With
  left padding the pad rows of a query are fully masked; older SDPA paths turn such rows into
  NaN, and 0 * NaN then leaks into real rows through the attention product. transformers >=
  4.48 builds masks that avoid it; a logits processor checks every step anyway and raises
  instead of recording garbage. Deterministic on CPU with a fixed thread count.
* :class:`VLLMBackend`: vLLM (optional extra, GPU only). After every weight update it resets
  the prefix cache: vLLM caches KV blocks by prompt tokens, and the 1,319 prompts are the same
  for every config, so without a reset the new merge would silently reuse KV computed by the
  previous merge's weights.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from .judge import STOP_STRINGS, truncate_at_stop


class NonFiniteLogitsError(RuntimeError):
    """Raised when a decoding step produced NaN/inf logits (e.g. fully masked SDPA rows)."""


def _stop_tail_tokens(stop_strings: Sequence[str]) -> int:
    # A token decodes to at least one character, except byte-fallback pieces (up to 4 per char).
    return 4 * max((len(s) for s in stop_strings), default=0) + 8


class HFBackend:
    """Greedy batched generation with transformers ``generate`` (see module docstring).

    ``threads`` fixes ``torch.set_num_threads`` (process-wide) for bit-reproducible CPU runs;
    prompts are processed in length-sorted batches of ``batch_size`` (less padding; with a
    correct mask, results do not depend on the batch a prompt lands in).
    """

    def __init__(self, model, tokenizer, stop_strings: Sequence[str] = STOP_STRINGS, batch_size: int = 8,
                 threads: int | None = 1, add_special_tokens: bool = True):
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.stop_strings = tuple(stop_strings)
        self.batch_size = int(batch_size)
        self.add_special_tokens = add_special_tokens
        if threads is not None and next(model.parameters()).device.type == "cpu":
            torch.set_num_threads(int(threads))
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a pad token for batched generation")
        model.eval()

    def _encode(self, prompts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(p, add_special_tokens=self.add_special_tokens)["input_ids"] for p in prompts]

    def generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        encoded = self._encode(prompts)
        order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
        out: list[str | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, text in zip(chunk, self._generate_batch([encoded[i] for i in chunk], max_new_tokens)):
                out[i] = text
        return out  # type: ignore[return-value]

    def _generate_batch(self, rows: list[list[int]], max_new_tokens: int) -> list[str]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):  # left padding
            input_ids[b, width - len(row):] = torch.tensor(row, dtype=torch.long)
            attention_mask[b, width - len(row):] = 1
        eos = self.tokenizer.eos_token_id
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.0,
            pad_token_id=pad, eos_token_id=eos, bos_token_id=self.tokenizer.bos_token_id,
            temperature=None, top_p=None, top_k=None,
        )
        stopping = StoppingCriteriaList([_stop_on_strings(self.tokenizer, self.stop_strings, width)])
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                generation_config=config, stopping_criteria=stopping,
                logits_processor=LogitsProcessorList([_finite_logits_guard()]),
            )
        texts = []
        for seq in output[:, width:].tolist():
            if eos is not None and eos in seq:
                seq = seq[: seq.index(eos)]
            texts.append(truncate_at_stop(self.tokenizer.decode(seq, skip_special_tokens=True),
                                          self.stop_strings))
        return texts


def _finite_logits_guard():
    from transformers import LogitsProcessor

    class _FiniteLogitsGuard(LogitsProcessor):
        """Logits processor that fails loudly on NaN/inf instead of letting argmax pick token 0."""

        def __call__(self, input_ids, scores):
            import torch

            if not torch.isfinite(scores).all():
                raise NonFiniteLogitsError(
                    "non-finite logits during generation (fully masked attention rows with left padding?)")
            return scores

    return _FiniteLogitsGuard()


def _stop_on_strings(tokenizer, stop_strings: Sequence[str], prompt_width: int):
    from transformers import StoppingCriteria

    class _StopOnStrings(StoppingCriteria):
        """Per-row stop: the decoded tail of the new tokens contains a stop string."""

        tail = _stop_tail_tokens(stop_strings)

        def __call__(self, input_ids, scores, **kwargs):
            import torch

            new = input_ids[:, prompt_width:]
            tails = tokenizer.batch_decode(new[:, -self.tail:], skip_special_tokens=True)
            return torch.tensor([any(s in t for s in stop_strings) for t in tails],
                                dtype=torch.bool, device=input_ids.device)

    return _StopOnStrings()


class VLLMBackend:
    """vLLM generation (GPU, optional extra ``vllm``); not executed in CI (no GPU here).

    Usage per configuration: ``backend.update_weights(merged_state_dict.items())`` then
    ``backend.generate(prompts, 1024)``. ``update_weights`` loads the tensors into the running
    engine (``model.load_weights``, HF parameter names) and ALWAYS resets the prefix cache
    afterwards (see module docstring). ``generate`` refuses to run on weights that were changed
    behind its back through :meth:`mark_weights_changed` without a reset.

    With the V1 engine's multiprocessing, ``apply_model`` pickles the tensors to the engine
    process; for a single-GPU worker set ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` so they are
    loaded in-process. Sampling matches the authors' ``SamplingParams``: temperature 0,
    top_p 1, repetition_penalty 1, their stop list.
    """

    def __init__(self, model: str, stop_strings: Sequence[str] = STOP_STRINGS, seed: int = 0, **llm_kwargs):
        try:
            from vllm import LLM
        except ImportError as exc:  # pragma: no cover - optional extra
            raise ImportError("VLLMBackend needs `pip install vllm` (GPU)") from exc
        llm_kwargs.setdefault("enable_prefix_caching", True)
        self.llm = LLM(model=model, seed=seed, **llm_kwargs)
        self.stop_strings = list(stop_strings)
        self._stale_cache = False

    def update_weights(self, named_tensors: Iterable[tuple[str, object]]) -> None:
        weights = list(named_tensors)
        if hasattr(self.llm, "apply_model"):  # vLLM >= 0.8
            self.llm.apply_model(lambda m: m.load_weights(weights=weights))
        else:  # pragma: no cover - legacy V0 engine layout
            self.llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(weights=weights)
        self._stale_cache = True
        self.reset_cache()

    def mark_weights_changed(self) -> None:
        """Call when the engine's weights were modified by other means (e.g. shared storage)."""
        self._stale_cache = True

    def reset_cache(self) -> None:
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM refused to reset the prefix cache (requests still running?)")
        self._stale_cache = False

    def generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        from vllm import SamplingParams

        if self._stale_cache:
            raise RuntimeError("weights changed but the prefix cache was not reset; call reset_cache()")
        params = SamplingParams(temperature=0.0, top_p=1.0, repetition_penalty=1.0,
                                max_tokens=max_new_tokens, stop=self.stop_strings)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]
