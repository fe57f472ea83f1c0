"""Evaluation-set loaders on local files (the hub path needs a network these machines lack)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smm_bench_collection import datasets as D

EXPECTED_TEMPLATE = (
    "以下に、あるタスクを説明する指示があります。リクエストを適切に完了するための回答を日本語で記述してください。"
    "一歩一歩考えましょう。\n\n### 指示:\n{question}\n\n### 応答:"
)


def test_template_is_the_protocol_template():
    assert D.PROMPT_TEMPLATE_7B == EXPECTED_TEMPLATE
    assert not D.PROMPT_TEMPLATE_7B.endswith(" ")


def _write_parquet(path, questions, answers, extra=True):
    columns = {"question": questions, "answer_number": answers}
    if extra:
        columns["answer"] = ["解説"] * len(questions)
    pq.write_table(pa.table(columns), path)


def test_load_parquet_and_prompts(tmp_path):
    path = tmp_path / "gsm.parquet"
    _write_parquet(path, ["りんごが3個と2個あります。全部で何個?", "5-1は?"], [5, 4])
    eval_set = D.load_gsm8k_ja(path)
    assert eval_set.name == "gsm8k-ja"
    assert len(eval_set) == 2
    assert eval_set.golds == [5.0, 4.0]
    assert all(isinstance(g, float) for g in eval_set.golds)
    assert eval_set.prompts[1] == EXPECTED_TEMPLATE.format(question="5-1は?")
    assert eval_set.head(1).items == eval_set.items[:1]


def test_load_jsonl(tmp_path):
    path = tmp_path / "mgsm.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"q{i}", "answer_number": i}, ensure_ascii=False)
                              for i in range(3)) + "\n", encoding="utf-8")
    eval_set = D.load_mgsm_ja(path)
    assert eval_set.name == "mgsm-ja"
    assert [i.question for i in eval_set.items] == ["q0", "q1", "q2"]


def test_roundtrip_save_local(tmp_path):
    items = (D.Item("問題", 1.5), D.Item("別の問題", 2.0))
    path = D.save_local(items, tmp_path / "x.parquet")
    assert D.load_local(path).items == items


def test_missing_field_and_bad_suffix(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"question": ["q"]}), path)
    with pytest.raises(KeyError):
        D.load_local(tmp_path / "bad.parquet")
    jl = tmp_path / "bad.jsonl"
    jl.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(KeyError):
        D.load_local(jl)
    with pytest.raises(ValueError):
        D.load_local(tmp_path / "x.csv")
    with pytest.raises(ValueError):
        D.EvalSet("x", (), template="no field")
