"""HF generation backend on a tiny MistralForCausalLM and a char-level tokenizer built here.

Checks greedy determinism, independence from batch composition under left padding, stop
strings (cut before "Instruction"/"Response", and decoding actually stops) and the NaN guard.
"""
from __future__ import annotations

import pytest

import torch  # noqa: E402 - [collect] extra: a missing install must fail, not skip
import transformers  # noqa: E402,F401 - imported so that a missing install fails here

from smm_bench_collection.backends import HFBackend, NonFiniteLogitsError, VLLMBackend  # noqa: E402

torch.set_num_threads(1)

ALPHABET = sorted(set("abcdefghijklmnopqrstuvwxyzIR0123456789 .:#?=+-\n答えはです日本語"))


def tiny_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>"] + ALPHABET)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", padding_side="left")


def tiny_model(vocab_size, seed=0, layers=2):
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(seed)
    config = MistralConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return MistralForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def random_model(tok):
    return tiny_model(len(tok))


PROMPTS = ["a", "hello world 12", "x+y=?", "答えは", "the quick brown fox jumps", "7"]


def test_greedy_is_deterministic_and_batch_independent(tok, random_model):
    batched = HFBackend(random_model, tok, batch_size=4, stop_strings=())
    first = batched.generate(PROMPTS, max_new_tokens=12)
    assert first == batched.generate(PROMPTS, max_new_tokens=12)
    single = HFBackend(random_model, tok, batch_size=1, stop_strings=())
    assert first == single.generate(PROMPTS, max_new_tokens=12)
    assert len(first) == len(PROMPTS) and all(isinstance(t, str) for t in first)
    assert any(len(t) >= 6 for t in first)  # the random model does produce text


def test_left_padding_matches_unpadded_forward(tok, random_model):
    """Under the backend's padding the last-position logits equal the unpadded ones."""
    rows = [tok(p)["input_ids"] for p in ("ab", "hello world 12")]
    width = max(map(len, rows))
    ids = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, width - len(r):] = torch.tensor(r)
        mask[b, width - len(r):] = 1
    with torch.no_grad():
        padded = random_model(input_ids=ids, attention_mask=mask).logits[:, -1]
        alone = random_model(input_ids=torch.tensor([rows[0]])).logits[:, -1]
    assert torch.isfinite(padded).all()
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def parrot(tok):
    """A tiny model overfitted to two continuations (one hits a stop marker, one ends with EOS)."""
    model = tiny_model(len(tok), seed=1).train()
    texts = [("q1:", "12 Response no more text here"), ("q2:", "ok 7")]
    seqs = []
    for prompt, answer in texts:
        ids = tok(prompt + answer)["input_ids"]
        if prompt == "q2:":
            ids = ids + [tok.eos_token_id]
        seqs.append(ids)
    width = max(map(len, seqs))
    batch = torch.full((2, width), tok.pad_token_id)
    labels = torch.full((2, width), -100)
    mask = torch.zeros((2, width), dtype=torch.long)
    for b, s in enumerate(seqs):  # left padding, as at inference
        batch[b, width - len(s):] = torch.tensor(s)
        labels[b, width - len(s):] = torch.tensor(s)
        mask[b, width - len(s):] = 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model(input_ids=batch, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.01:
            break
    return model.eval()


def test_stop_strings_cut_and_stop_decoding(tok, parrot):
    plain = HFBackend(parrot, tok, stop_strings=()).generate(["q1:"], max_new_tokens=29)
    assert plain[0].startswith("12 Response no")  # the model learned its script
    steps = []
    handle = parrot.register_forward_hook(lambda *a: steps.append(1))
    try:
        stopped = HFBackend(parrot, tok).generate(["q1:", "q2:"], max_new_tokens=40)
    finally:
        handle.remove()
    assert stopped == ["12 ", "ok 7"]  # cut before "Response"; second row ended by EOS
    assert len(steps) < 20  # decoding stopped at the marker instead of running 40 steps


def test_nan_guard_raises(tok):
    model = tiny_model(len(tok), seed=2)
    handle = model.lm_head.register_forward_hook(lambda m, i, o: o * float("nan"))
    try:
        with pytest.raises(NonFiniteLogitsError):
            HFBackend(model, tok).generate(["ab"], max_new_tokens=3)
    finally:
        handle.remove()


def test_vllm_backend_needs_vllm_only_when_built():
    """The module imports without vllm (CI); constructing the backend then says what is missing."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="vllm"):
            VLLMBackend("some/model")
    else:  # pragma: no cover - GPU machines with the extra installed
        pytest.skip("vllm installed: constructing an engine needs a GPU and a model")
