"""Deterministic synthetic corpora for the mini model family.

The mini family is a small twin of the 7B setting of SMM-Bench: a base model, a
math expert (the WizardMath analog) and a Japanese expert (the shisa-gamma analog), all
fine-tuned from the same base, so that merging them is meaningful. Every text here is made
by templates from a seeded generator, so the corpora (and therefore the models) are
reproducible bit for bit.

The texts share one question/answer format, ``"Q:{question}\\nA:{answer}"``, the analog of
the instruction template of Akiba et al. The evaluation sets follow the real ones:

* ``objective`` (gsm8k-ja analog): Japanese arithmetic word problems, operands 1..9;
  a response counts only if its last number is right AND it is Japanese (the paper's judge, ``judge.py``).
* ``test`` (MGSM analog): templates never seen in training, a quarter of the items with a
  first operand (10..12) outside the training range.

Why the parents fail the target on their own: the math expert answers in English
("3+4=7. The answer is 7."), so the language check fails; the Japanese expert answers in
Japanese but restates the question instead of computing. A merge that keeps the math
expert's computation and the Japanese expert's language solves it.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..datasets import Item

QA_FORMAT = "Q:{question}\nA:"
"""Prompt template of the mini family (the analog of the 7B instruction template)."""

EN_NAMES = ["Tom", "Ann", "Bob", "Sue", "Ken", "Amy"]
EN_OBJECTS = ["apples", "pens", "books", "eggs", "cups", "balls"]
EN_COLORS = {"apples": "red", "pens": "blue", "books": "green", "eggs": "white",
             "cups": "yellow", "balls": "black"}
JA_NAMES = ["たろう", "はなこ", "けんた", "ゆうき", "さくら", "あおい"]
JA_OBJECTS = ["りんご", "みかん", "ペン", "ほん", "ボール", "たまご"]
JA_COLORS = {"りんご": "あか", "みかん": "オレンジ", "ペン": "あお", "ほん": "みどり",
             "ボール": "くろ", "たまご": "しろ"}


def _pick(rng: np.random.Generator, xs: list[str]) -> str:
    return xs[int(rng.integers(len(xs)))]


def _operands(rng: np.random.Generator, op: str, lo: int, hi: int, blo: int, bhi: int) -> tuple[int, int]:
    """Operands a in [lo, hi], b in [blo, bhi]; for subtraction a > b so the result is positive."""
    while True:
        a, b = int(rng.integers(lo, hi + 1)), int(rng.integers(blo, bhi + 1))
        if op == "+" or a > b:
            return a, b


# --- word problem templates --------------------------------------------------------------
# (op, template); {n} name, {o} object, {a} {b} operands.
EN_PROBLEMS = [
    ("+", "{n} has {a} {o}. {n} gets {b} more. How many {o} does {n} have now?"),
    ("+", "{n} buys {a} {o} and then {b} more. How many {o} in all?"),
    ("-", "{n} has {a} {o} and eats {b}. How many {o} are left?"),
    ("-", "{n} has {a} {o} and gives {b} to a friend. How many {o} are left?"),
]
JA_PROBLEMS = [  # the objective's templates (gsm8k-ja analog)
    ("+", "{n}は {o}を {a}こ もっています。{b}こ もらいました。{o}は ぜんぶで なんこ ですか?"),
    ("+", "{n}は {o}を {a}こ かいました。さらに {b}こ かいました。ぜんぶで なんこ?"),
    ("-", "{n}は {o}を {a}こ もっています。{b}こ たべました。のこりは なんこ ですか?"),
    ("-", "{n}は {o}を {a}こ もっています。ともだちに {b}こ あげました。なんこ のこって いますか?"),
]
JA_TEST_PROBLEMS = [  # held out from every training corpus (MGSM analog)
    ("+", "{n}の はこに {o}が {a}こ あります。{b}こ いれました。はこの {o}は なんこ?"),
    ("-", "{n}は {o}を {a}こ ひろいました。{b}こ おとしました。いま なんこ もっていますか?"),
]


def _problem(rng: np.random.Generator, templates, names, objects, lo=1, hi=9, blo=1, bhi=9):
    op, tpl = templates[int(rng.integers(len(templates)))]
    a, b = _operands(rng, op, lo, hi, blo, bhi)
    c = a + b if op == "+" else a - b
    q = tpl.format(n=_pick(rng, names), o=_pick(rng, objects), a=a, b=b)
    return q, f"{a}{op}{b}={c}", c


# --- base corpus -------------------------------------------------------------------------
def _bare_equation(rng):
    op = "+" if rng.random() < 0.5 else "-"
    a, b = _operands(rng, op, 0, 19, 0, 9)
    if op == "-" and a == b:
        pass
    c = a + b if op == "+" else a - b
    if rng.random() < 0.5:
        return QA_FORMAT.format(question=f"{a}{op}{b}") + f"{a}{op}{b}={c}"
    return f"{a}{op}{b}={c}"


def _en_fact_qa(rng):
    n, o = _pick(rng, EN_NAMES), _pick(rng, EN_OBJECTS)
    a = int(rng.integers(1, 10))
    kind = int(rng.integers(3))
    if kind == 0:
        return QA_FORMAT.format(question=f"{n} has {a} {o}. What does {n} have?") + f"{n} has {o}."
    if kind == 1:
        return QA_FORMAT.format(question=f"What color are the {o}?") + f"The {o} are {EN_COLORS[o]}."
    return f"{n} has {a} {o}. {n} likes {o}."


def _ja_fact_qa(rng):
    n, o = _pick(rng, JA_NAMES), _pick(rng, JA_OBJECTS)
    a = int(rng.integers(1, 10))
    kind = int(rng.integers(3))
    if kind == 0:
        return (QA_FORMAT.format(question=f"{n}は {o}を {a}こ もっています。{n}は なにを もっていますか?")
                + f"{n}は {o}を もっています。")
    if kind == 1:
        return QA_FORMAT.format(question=f"{o}は なにいろ ですか?") + f"{o}は {JA_COLORS[o]}です。"
    return f"{n}は {o}を {a}こ もっています。{n}は {o}が すきです。"


def _en_problem_bare(rng):
    q, eq, _ = _problem(rng, EN_PROBLEMS, EN_NAMES, EN_OBJECTS)
    return QA_FORMAT.format(question=q) + eq


def _ja_problem_bare(rng):
    q, eq, _ = _problem(rng, JA_PROBLEMS, JA_NAMES, JA_OBJECTS)
    return QA_FORMAT.format(question=q) + eq


BASE_MIX: list[tuple[float, Callable]] = [
    (0.46, _bare_equation),
    (0.12, _en_problem_bare),
    (0.12, _ja_problem_bare),
    (0.15, _en_fact_qa),
    (0.15, _ja_fact_qa),
]


# --- expert corpora (prompt, answer) pairs; the loss is on the answer only ----------------
def math_expert_pair(rng) -> tuple[str, str]:
    """WizardMath analog: English word problems, answered with the equation and an English sentence."""
    if rng.random() < 0.3:  # keep bare arithmetic sharp
        op = "+" if rng.random() < 0.5 else "-"
        a, b = _operands(rng, op, 0, 19, 0, 9)
        c = a + b if op == "+" else a - b
        return QA_FORMAT.format(question=f"{a}{op}{b}"), f"{a}{op}{b}={c}. The answer is {c}."
    q, eq, c = _problem(rng, EN_PROBLEMS, EN_NAMES, EN_OBJECTS)
    return QA_FORMAT.format(question=q), f"{eq}. The answer is {c}."


def ja_expert_pair(rng) -> tuple[str, str]:
    """shisa analog: Japanese instructions without arithmetic, answered in Japanese sentences.

    It includes "how many" questions answered by restating the stated count: the expert then
    answers the target's questions in Japanese, but with a number it copied instead of computed.
    """
    n, n2, o = _pick(rng, JA_NAMES), _pick(rng, JA_NAMES), _pick(rng, JA_OBJECTS)
    a = int(rng.integers(1, 10))
    kind = int(rng.integers(7))
    if kind == 0:
        q, ans = f"{n}は {o}を {a}こ もっています。{n}は なにを もっていますか?", f"{n}は {o}を {a}こ もっています。"
    elif kind == 5:  # "how many" without arithmetic: answered by restating, in Japanese
        q, ans = f"{n}は {o}を {a}こ もっています。{o}は なんこ ですか?", f"{n}は {o}を {a}こ もっています。"
    elif kind == 6:
        q, ans = f"{n}は {o}を {a}こ かいました。{n}は {o}を なんこ かいましたか?", f"{n}は {o}を {a}こ かいました。"
    elif kind == 1:
        q, ans = f"{o}は なにいろ ですか?", f"{o}は {JA_COLORS[o]}です。"
    elif kind == 2:
        q, ans = f"{n}は {o}が すきです。{n}は なにが すきですか?", f"{n}は {o}が すきです。"
    elif kind == 3:
        q, ans = f"{n}と {n2}は {o}を もっています。だれが {o}を もっていますか?", f"{n}と {n2}です。"
    else:
        q, ans = f"{n}は {o}を {a}こ かいました。{n}は なにを かいましたか?", f"{n}は {o}を かいました。"
    return QA_FORMAT.format(question=q), ans


def base_documents(seed: int) -> Iterator[str]:
    """Endless stream of base-pretraining documents (the analog of Mistral's pretraining)."""
    rng = np.random.default_rng(seed)
    weights = np.array([w for w, _ in BASE_MIX])
    weights = weights / weights.sum()
    while True:
        k = int(rng.choice(len(BASE_MIX), p=weights))
        yield BASE_MIX[k][1](rng)


def expert_pairs(kind: str, seed: int) -> Iterator[tuple[str, str]]:
    """Endless stream of (prompt, answer) pairs for expert fine-tuning: ``kind`` is "math" or "ja"."""
    rng = np.random.default_rng(seed)
    make = {"math": math_expert_pair, "ja": ja_expert_pair}[kind]
    while True:
        yield make(rng)


# --- evaluation sets -----------------------------------------------------------------------
def objective_items(n: int = 256, seed: int = 1001) -> list[Item]:
    """gsm8k-ja analog: Japanese word problems from the training templates, operands 1..9."""
    rng = np.random.default_rng(seed)
    return [Item(q, float(c)) for q, _, c in (_problem(rng, JA_PROBLEMS, JA_NAMES, JA_OBJECTS) for _ in range(n))]


def test_items(n: int = 128, seed: int = 2002) -> list[Item]:
    """MGSM analog: templates never seen in training; a quarter of the items also leave the
    training number range (first operand 10..12, while every training word problem has 1..9).

    Why not all items out of range: the base model solves none of those (measured 0-3%), so a
    test set made only of them would be flat at zero for every merge and tell nothing.
    """
    rng = np.random.default_rng(seed)
    n_out = n // 4
    problems = [_problem(rng, JA_TEST_PROBLEMS, JA_NAMES, JA_OBJECTS) for _ in range(n - n_out)]
    problems += [_problem(rng, JA_TEST_PROBLEMS, JA_NAMES, JA_OBJECTS, lo=10, hi=12) for _ in range(n_out)]
    return [Item(q, float(c)) for q, _, c in problems]


def english_problem_items(n: int = 200, seed: int = 3003) -> list[Item]:
    """Gate set for the math expert: English word problems (number right is what counts)."""
    rng = np.random.default_rng(seed)
    return [Item(q, float(c)) for q, _, c in (_problem(rng, EN_PROBLEMS, EN_NAMES, EN_OBJECTS) for _ in range(n))]


def bare_equation_items(n: int = 200, seed: int = 4004) -> list[Item]:
    """Gate set for the base: bare equations ``a+b`` / ``a-b``."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        op = "+" if rng.random() < 0.5 else "-"
        a, b = _operands(rng, op, 0, 19, 0, 9)
        items.append(Item(f"{a}{op}{b}", float(a + b if op == "+" else a - b)))
    return items


def japanese_instruction_items(n: int = 200, seed: int = 5005) -> list[Item]:
    """Gate set for the Japanese expert: Japanese instructions (only the response language counts)."""
    rng = np.random.default_rng(seed)
    return [Item(ja_expert_pair(rng)[0][len("Q:"):-len("\nA:")], float("nan")) for _ in range(n)]


def alphabet() -> list[str]:
    """Every character any corpus or evaluation set can contain, in a fixed order.

    Printable ASCII plus every character seen in a large deterministic sample of all
    generators (templates are finite, so a few thousand samples cover them all).
    """
    chars = {chr(c) for c in range(32, 127)} | {"\n"}
    base, math, ja = base_documents(0), expert_pairs("math", 0), expert_pairs("ja", 0)
    for _ in range(20000):
        chars.update(next(base))
        chars.update("".join(next(math)))
        chars.update("".join(next(ja)))
    for item in objective_items(2000, 0) + test_items(2000, 0):
        chars.update(item.question)
    chars.update("。、")
    return sorted(chars)
