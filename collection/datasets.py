"""The evaluation sets of the paper: gsm8k-ja (objective) and MGSM-ja (test), from the hub or local files.

The hub path is the one the authors used (``datasets.load_dataset``); it is real code but these
machines have no hub, so tests exercise the local-file path (parquet or jsonl with the same two
fields). ``datasets`` is imported lazily: the mini family and CI never need it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

# Akiba et al.'s JA_ALPACA_COT_TEMPLATE (evomerge/models/prompt_templates.py), zero-shot, no chat
# template; ``{question}`` replaces their ``{input}``. Byte-exact: no trailing space after "応答:".
PROMPT_TEMPLATE_7B = (
    "以下に、あるタスクを説明する指示があります。リクエストを適切に完了するための回答を日本語で"
    "記述してください。一歩一歩考えましょう。\n\n### 指示:\n{question}\n\n### 応答:"
)

GSM8K_JA = {"path": "SakanaAI/gsm8k-ja-test_250-1319", "name": None, "split": "test", "n_items": 1069}
MGSM_JA = {"path": "juletxara/mgsm", "name": "ja", "split": "test", "n_items": 250}

REQUIRED_FIELDS = ("question", "answer_number")


@dataclass(frozen=True)
class Item:
    question: str
    answer_number: float


@dataclass(frozen=True)
class EvalSet:
    """A named list of items plus the prompt template the model sees; what the evaluator consumes."""

    name: str
    items: tuple[Item, ...]
    template: str = PROMPT_TEMPLATE_7B

    def __post_init__(self) -> None:
        if "{question}" not in self.template:
            raise ValueError("the prompt template needs a {question} field")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def prompts(self) -> list[str]:
        return [self.template.format(question=item.question) for item in self.items]

    @property
    def golds(self) -> list[float]:
        return [item.answer_number for item in self.items]

    def head(self, n: int) -> "EvalSet":
        """The first ``n`` items (a cheap fidelity with a fixed, reproducible subset)."""
        return EvalSet(f"{self.name}[:{n}]", self.items[:n], self.template)

    def with_template(self, template: str) -> "EvalSet":
        return EvalSet(self.name, self.items, template)


def items_from_records(records: Iterable[dict]) -> tuple[Item, ...]:
    items = []
    for i, record in enumerate(records):
        missing = [f for f in REQUIRED_FIELDS if f not in record]
        if missing:
            raise KeyError(f"record {i} lacks field(s) {missing}")
        items.append(Item(question=str(record["question"]), answer_number=float(record["answer_number"])))
    return tuple(items)


def load_local(path: str | Path, name: str | None = None, template: str = PROMPT_TEMPLATE_7B) -> EvalSet:
    """Load an evaluation set from a ``.parquet`` or ``.jsonl`` file with ``question``/``answer_number``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        missing = [f for f in REQUIRED_FIELDS if f not in table.column_names]
        if missing:
            raise KeyError(f"{path} lacks column(s) {missing}")
        records = table.select(list(REQUIRED_FIELDS)).to_pylist()
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    else:
        raise ValueError(f"unsupported evaluation-set file {path} (use .parquet or .jsonl)")
    return EvalSet(name or path.stem, items_from_records(records), template)


def save_local(eval_set: EvalSet | Sequence[Item], path: str | Path) -> Path:
    """Write items as parquet (so a hub download can be frozen once and used offline)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    items = eval_set.items if isinstance(eval_set, EvalSet) else tuple(eval_set)
    table = pa.table(
        {
            "question": pa.array([i.question for i in items], pa.string()),
            "answer_number": pa.array([i.answer_number for i in items], pa.float64()),
        }
    )
    path = Path(path)
    pq.write_table(table, path)
    return path


def load_hub(path: str, name: str | None, split: str, set_name: str, expected_items: int | None = None,
             template: str = PROMPT_TEMPLATE_7B, revision: str | None = None) -> EvalSet:
    """Load from the Hugging Face hub with ``datasets`` (not run in tests: no network here)."""
    try:
        from datasets import load_dataset
    except ImportError as exc:  # pragma: no cover - depends on the optional package
        raise ImportError("loading evaluation sets from the hub needs `pip install datasets`") from exc
    dataset = load_dataset(path=path, name=name, split=split, revision=revision)
    eval_set = EvalSet(set_name, items_from_records(dataset.select_columns(list(REQUIRED_FIELDS))), template)
    if expected_items is not None and len(eval_set) != expected_items:
        raise ValueError(f"{path} has {len(eval_set)} items in split {split!r}, expected {expected_items}")
    return eval_set


def load_gsm8k_ja(local_path: str | Path | None = None) -> EvalSet:
    """The objective set: 1069 gsm8k test items (250..1318) in Japanese."""
    if local_path is not None:
        return load_local(local_path, name="gsm8k-ja")
    return load_hub(GSM8K_JA["path"], GSM8K_JA["name"], GSM8K_JA["split"], "gsm8k-ja", GSM8K_JA["n_items"])


def load_mgsm_ja(local_path: str | Path | None = None) -> EvalSet:
    """The test set: MGSM Japanese, 250 items."""
    if local_path is not None:
        return load_local(local_path, name="mgsm-ja")
    return load_hub(MGSM_JA["path"], MGSM_JA["name"], MGSM_JA["split"], "mgsm-ja", MGSM_JA["n_items"])
