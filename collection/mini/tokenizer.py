"""A character-level tokenizer for the mini family, saved as a transformers tokenizer.

Characters are the natural unit for a tiny model trained on templated English and Japanese:
no merges to learn, every digit its own token (arithmetic stays learnable), and the vocabulary
is fixed by ``corpora.alphabet()`` so it is reproducible.
"""
from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from .corpora import alphabet

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the char-level tokenizer: ids 0..3 are special, then the alphabet in sorted order."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + alphabet())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        padding_side="left", clean_up_tokenization_spaces=False,
    )


def save_tokenizer(out_dir: str | Path) -> PreTrainedTokenizerFast:
    tok = build_tokenizer()
    tok.save_pretrained(str(out_dir))
    return tok
