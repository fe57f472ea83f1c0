"""Model families: which source models a space merges, and on which evaluation sets.

A family fixes everything a true evaluation depends on besides the configuration: the
models of each space, the tokenizer, the prompt template, the two evaluation sets, the
decoding budget and the stop tokens. Its ``family_id`` is stored with every collected row,
so data from different families can never be mixed by accident.

* ``mini``: the small CPU family trained by ``smm_bench_collection.mini``.
* ``hf``: the paper's 7B setting, from Hugging Face ids or local folders.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .datasets import EvalSet, PROMPT_TEMPLATE_7B, load_gsm8k_ja, load_mgsm_ja

MINI_DIR = Path(__file__).resolve().parent / "mini" / "models"

# The paper's sources.
PS_7B = {"base": "mistralai/Mistral-7B-v0.1",
         "sources": ["augmxnt/shisa-gamma-7b-v1", "WizardLMTeam/WizardMath-7B-V1.1"]}
DFS_7B = {"A": "SakanaAI/EvoLLM-JP-v1-7B", "B": "augmxnt/shisa-gamma-7b-v1"}


@dataclass
class Family:
    """Everything but the configuration that a true evaluation depends on."""

    family_id: str
    tokenizer: object
    objective: EvalSet
    test: EvalSet
    max_new_tokens: int
    stop_token_ids: list[int]
    load_ps: Callable[[], tuple[torch.nn.Module, list[torch.nn.Module]]]
    load_dfs: Callable[[], tuple[torch.nn.Module, torch.nn.Module]]
    stop_strings: tuple[str, ...] = ()
    engine: str = "hf"  # decoding engine the evaluator uses by default (engine_version.ENGINES)
    info: dict = field(default_factory=dict)


def _load_causal_lm(path_or_id: str, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path_or_id), dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def mini_family(models_dir: str | Path = MINI_DIR, n_objective: int = 256, n_test: int = 128) -> Family:
    """The mini twin: base + Japanese expert + math expert (PS); merged A + Japanese expert (DFS).

    Model A of DFS is the mini analog of EvoLLM-JP: a PS merge of the two experts with the
    recipe stored in ``models/A/recipe.json`` (found by CMA-ES on the true mini PS objective).
    """
    from transformers import AutoTokenizer

    from .mini import corpora

    d = Path(models_dir)
    tok = AutoTokenizer.from_pretrained(str(d / "base"))
    objective = EvalSet("mini_objective", tuple(corpora.objective_items(n_objective)), corpora.QA_FORMAT)
    test = EvalSet("mini_test", tuple(corpora.test_items(n_test)), corpora.QA_FORMAT)
    version = json.loads((d / "family.json").read_text())["version"] if (d / "family.json").exists() else "dev"
    return Family(
        family_id=f"mini-{version}", tokenizer=tok, objective=objective, test=test, max_new_tokens=48,
        stop_token_ids=[tok.eos_token_id, tok.convert_tokens_to_ids("\n")],
        load_ps=lambda: (_load_causal_lm(d / "base"), [_load_causal_lm(d / "ja"), _load_causal_lm(d / "math")]),
        load_dfs=lambda: (_load_causal_lm(d / "A"), _load_causal_lm(d / "ja")),
        engine="batched", info={"models_dir": str(d)},
    )


def hf_family(ps: dict = PS_7B, dfs: dict = DFS_7B, gsm8k_ja: str | None = None, mgsm_ja: str | None = None,
              dtype: torch.dtype = torch.bfloat16, max_new_tokens: int = 1024) -> Family:
    """The paper's 7B family. Model ids may be local folders; datasets may be local parquet/jsonl files.

    Needs a GPU in practice (~5 GPU-minutes per evaluation); loads from the hub only
    when given hub ids.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(dfs["A"] if ps is None else ps["base"])
    ids = "+".join([ps["base"], *ps["sources"]] if ps else [dfs["A"], dfs["B"]])
    return Family(
        family_id=f"hf:{ids}", tokenizer=tok,
        objective=load_gsm8k_ja(gsm8k_ja).with_template(PROMPT_TEMPLATE_7B),
        test=load_mgsm_ja(mgsm_ja).with_template(PROMPT_TEMPLATE_7B),
        max_new_tokens=max_new_tokens, stop_token_ids=[tok.eos_token_id],
        load_ps=lambda: (_load_causal_lm(ps["base"], dtype), [_load_causal_lm(s, dtype) for s in ps["sources"]]),
        load_dfs=lambda: (_load_causal_lm(dfs["A"], dtype), _load_causal_lm(dfs["B"], dtype)),
        stop_strings=("Instruction:", "Instruction", "Response:", "Response"),
        info={"ps": ps, "dfs": dfs},
    )
