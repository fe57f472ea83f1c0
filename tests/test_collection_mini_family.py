"""The mini family's data and bookkeeping: deterministic corpora, a frozen vocabulary, gate helpers."""
import itertools

import numpy as np
import pytest

from smm_bench_collection.family import MINI_DIR
from smm_bench_collection.mini import corpora
from smm_bench_collection.mini.gates import corner, guessing_floor, shuffled_gold_accuracy
from smm_bench_collection.mini.tokenizer import build_tokenizer


def test_corpora_are_deterministic_and_seed_dependent():
    a = list(itertools.islice(corpora.base_documents(3), 50))
    assert a == list(itertools.islice(corpora.base_documents(3), 50))
    assert a != list(itertools.islice(corpora.base_documents(4), 50))
    assert corpora.objective_items() == corpora.objective_items()
    assert len(corpora.objective_items()) == 256 and len(corpora.test_items()) == 128


def test_evaluation_sets_are_held_out_from_training_templates():
    train_questions = {q for _, q in itertools.islice(corpora.expert_pairs("ja", 0), 2000)}
    train_questions |= {d.split("\nA:")[0][2:] for d in itertools.islice(corpora.base_documents(0), 5000)}
    test_qs = {i.question for i in corpora.test_items()}
    assert not test_qs & train_questions
    held_out_markers = ("いれました", "おとしました")
    assert all(any(m in q for m in held_out_markers) for q in test_qs)
    assert not any(m in d for d in train_questions for m in held_out_markers)
    gold = [i.answer_number for i in corpora.test_items()]
    assert sum(g >= 10 for g in gold) > 0 and max(i.answer_number for i in corpora.objective_items()) <= 18


def test_every_corpus_character_is_in_the_vocabulary():
    tok = build_tokenizer()
    texts = [d for d in itertools.islice(corpora.base_documents(1), 3000)]
    texts += ["".join(p) for p in itertools.islice(corpora.expert_pairs("math", 1), 500)]
    texts += ["".join(p) for p in itertools.islice(corpora.expert_pairs("ja", 1), 500)]
    texts += [i.question for i in corpora.objective_items() + corpora.test_items()]
    for t in texts:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids and tok.decode(ids) == t


@pytest.mark.skipif(not (MINI_DIR / "base" / "tokenizer.json").exists(), reason="mini family not built")
def test_vocabulary_is_frozen_to_the_trained_family():
    """Changing a template must never renumber characters under trained weights."""
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(str(MINI_DIR / "base"))
    assert saved.get_vocab() == build_tokenizer().get_vocab()


def test_gate_helpers():
    assert corner(None)["w0_l05"] == 0.0 and corner(0)["w0_l05"] == 1.0 and corner(0)["w1_l05"] == 0.0
    items = corpora.objective_items()
    floor = guessing_floor(items)
    assert 0 < floor < 0.2
    golds = [i.answer_number for i in items]
    right = [f"{int(g)}こです。" for g in golds]  # computed answers, in Japanese
    assert shuffled_gold_accuracy(right, golds) < 0.5 * 1.0
    constant = ["7こです。"] * len(golds)  # a guesser: the same answer for everything
    assert abs(shuffled_gold_accuracy(constant, golds) - np.mean([g == 7 for g in golds])) < 1e-9


def test_model_a_is_saved_as_the_exact_ps_merge(tmp_path):
    """DFS model A (the EvoLLM-JP analog) = the PS merge of its recipe, weights bit for bit."""
    import shutil
    import sys

    import torch
    from transformers import MistralForCausalLM

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from tiny_family import make_tiny_family

    from smm_bench_collection.evaluate import MergeEvaluator
    from smm_bench_collection.family import mini_family
    from smm_bench_collection.mini.gates import save_model_a

    d = make_tiny_family(tmp_path)
    shutil.rmtree(d / "A")
    config = {f"w{m}_l{l:02d}": float(v) for (m, l), v in np.ndenumerate(np.random.default_rng(0).random((2, 32)))}
    save_model_a(config, d)
    a = MistralForCausalLM.from_pretrained(str(d / "A"))
    ref = dict(MergeEvaluator("ps", mini_family(d), engine="hf").model_for(config).named_parameters())
    assert all(torch.equal(p, ref[n]) for n, p in a.named_parameters())


def test_random_std_estimate_brackets_the_spread():
    from smm_bench_collection.mini.gates import random_std_estimate

    rng = np.random.default_rng(0)
    rows = [{"objective_acc": v} for v in rng.normal(0.06, 0.05, 1000).clip(0, 1)]
    est = random_std_estimate(rows)
    acc = np.array([r["objective_acc"] for r in rows])
    lo, hi = est["ci95"]
    assert est["n"] == 1000 and est["std"] == acc.std() and lo < acc.std() < hi and hi - lo < 0.01
    assert random_std_estimate(rows) == est  # seeded
    assert random_std_estimate(rows[:1]) == {"n": 1}
