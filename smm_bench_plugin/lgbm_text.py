"""Parser for LightGBM's text model format, without importing LightGBM.

The runtime must convert the authors' surrogate files to ONNX on machines that have no
LightGBM, so we read the format that ``Booster.model_to_string()`` writes ourselves:
a header of ``key=value`` lines, then one ``Tree=i`` block per tree (``key=value`` lines,
arrays separated by spaces), then ``end of trees`` and trailing sections we ignore.
``CVBooster.save_model`` writes JSON ``{"boosters": [<model string>, ...],
"best_iteration": int}``; a CVBooster loaded from such a file predicts with *all* trees
present in each string (each loaded Booster has ``best_iteration == -1``; the truncation
to the best iteration already happened when the strings were written), so the converter
uses every tree it finds.

Decision semantics (LightGBM ``Tree::NumericalDecision`` / ``CategoricalDecision``):
``decision_type`` bit 0 = categorical split, bit 1 = default_left, bits 2-3 = missing type
(0 None, 1 Zero, 2 NaN). Numerical: with missing type other than NaN a NaN input is
treated as 0.0; with missing type NaN a NaN goes to the default side; otherwise
``x <= threshold`` goes left. Categorical: NaN or a negative value goes right; else
``int(x)`` is looked up in the split's bitset (left if present).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

__all__ = [
    "MISSING_NONE",
    "MISSING_ZERO",
    "MISSING_NAN",
    "Tree",
    "TextModel",
    "parse_model_string",
    "parse_cv_booster_json",
    "IDENTITY_OBJECTIVES",
]

MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2

#: Objectives whose prediction is the raw score (no output transform).
IDENTITY_OBJECTIVES = frozenset(
    {"regression", "regression_l2", "l2", "mean_squared_error", "mse", "regression_l1", "l1",
     "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape", "custom", "none"}
)


@dataclass(frozen=True)
class Tree:
    """One regression tree; children < 0 are leaves (leaf index = ~child)."""

    split_feature: tuple[int, ...]
    threshold: tuple[float, ...]
    decision_type: tuple[int, ...]
    left_child: tuple[int, ...]
    right_child: tuple[int, ...]
    leaf_value: tuple[float, ...]
    cat_boundaries: tuple[int, ...]
    cat_threshold: tuple[int, ...]

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_value)

    def categories(self, node: int) -> list[int]:
        """Category values sent left by categorical split ``node`` (decoded bitset)."""
        cat_idx = int(self.threshold[node])
        words = self.cat_threshold[self.cat_boundaries[cat_idx]:self.cat_boundaries[cat_idx + 1]]
        return [w * 32 + b for w, word in enumerate(words) for b in range(32) if (word >> b) & 1]


@dataclass(frozen=True)
class TextModel:
    """The parts of a LightGBM model that determine its predictions."""

    num_features: int
    feature_names: tuple[str, ...]
    objective: str
    average_output: bool
    num_tree_per_iteration: int
    trees: tuple[Tree, ...]

    @property
    def num_iterations(self) -> int:
        return len(self.trees) // max(self.num_tree_per_iteration, 1)


def _ints(s: str) -> tuple[int, ...]:
    return tuple(int(v) for v in s.split()) if s.strip() else ()


def _floats(s: str) -> tuple[float, ...]:
    # Python's float() parses LightGBM's %.17g output to the identical double.
    return tuple(float(v) for v in s.split()) if s.strip() else ()


def _parse_tree(fields: dict[str, str], where: str) -> Tree:
    if fields.get("is_linear", "0").strip() not in ("0", ""):
        raise NotImplementedError(f"{where}: linear trees (linear_tree=true) are not supported")
    try:
        n_leaves = int(fields["num_leaves"])
        leaf_value = _floats(fields["leaf_value"])
    except KeyError as e:
        raise ValueError(f"{where}: missing field {e.args[0]!r}") from None
    if len(leaf_value) != n_leaves:
        raise ValueError(f"{where}: num_leaves={n_leaves} but {len(leaf_value)} leaf values")
    if n_leaves == 1:
        return Tree((), (), (), (), (), leaf_value, (), ())
    tree = Tree(
        split_feature=_ints(fields["split_feature"]),
        threshold=_floats(fields["threshold"]),
        decision_type=_ints(fields["decision_type"]),
        left_child=_ints(fields["left_child"]),
        right_child=_ints(fields["right_child"]),
        leaf_value=leaf_value,
        cat_boundaries=_ints(fields.get("cat_boundaries", "")),
        cat_threshold=_ints(fields.get("cat_threshold", "")),
    )
    n_int = n_leaves - 1
    for key in ("split_feature", "threshold", "decision_type", "left_child", "right_child"):
        if len(getattr(tree, key)) != n_int:
            raise ValueError(f"{where}: {key} has {len(getattr(tree, key))} entries, expected {n_int}")
    if any(not math.isfinite(t) for t, d in zip(tree.threshold, tree.decision_type) if not d & 1):
        raise ValueError(f"{where}: non-finite numerical threshold")
    return tree


def parse_model_string(text: str) -> TextModel:
    """Parse one ``Booster.model_to_string()`` text into a :class:`TextModel`.

    Raises ValueError on malformed text and NotImplementedError on model kinds whose
    prediction we do not reproduce (multiclass, linear trees, non-identity objectives).
    """
    if not isinstance(text, str) or not text.startswith("tree"):
        raise ValueError("not a LightGBM text model (it must start with 'tree')")
    header: dict[str, str] = {}
    flags: set[str] = set()
    blocks: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line == "end of trees":
            break
        if not line:
            continue
        key, sep, value = line.partition("=")
        if key == "Tree":
            current = {}
            blocks.append((f"Tree={value}", current))
        elif current is not None:
            current[key] = value
        elif sep:
            header[key] = value
        else:
            flags.add(line)
    else:
        raise ValueError("truncated LightGBM model text: no 'end of trees' line")
    try:
        max_feature_idx = int(header["max_feature_idx"])
    except (KeyError, ValueError):
        raise ValueError("LightGBM model text lacks a valid 'max_feature_idx'") from None
    n_tpi = int(header.get("num_tree_per_iteration", "1"))
    if n_tpi != 1 or int(header.get("num_class", "1")) != 1:
        raise NotImplementedError("multiclass LightGBM models are not supported (num_class must be 1)")
    objective = header.get("objective", "custom").strip()
    tokens = objective.split()
    name = tokens[0] if tokens else "custom"
    if name not in IDENTITY_OBJECTIVES or "sqrt" in tokens[1:]:
        raise NotImplementedError(
            f"objective {objective!r} has an output transform the converter does not reproduce; "
            f"supported (identity) objectives: {sorted(IDENTITY_OBJECTIVES)}"
        )
    trees = tuple(_parse_tree(fields, where) for where, fields in blocks)
    n_features = max_feature_idx + 1
    for i, t in enumerate(trees):
        if any(f < 0 or f >= n_features for f in t.split_feature):
            raise ValueError(f"Tree={i}: split feature outside 0..{max_feature_idx}")
    names = tuple(header.get("feature_names", "").split())
    return TextModel(
        num_features=n_features,
        feature_names=names,
        objective=objective,
        average_output="average_output" in flags,
        num_tree_per_iteration=n_tpi,
        trees=trees,
    )


def parse_cv_booster_json(text: str) -> tuple[list[TextModel], int]:
    """Parse ``CVBooster.save_model`` JSON into (fold models, recorded best_iteration)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("boosters"), list) or not doc["boosters"]:
        raise ValueError("CVBooster JSON must be an object with a non-empty 'boosters' list")
    models = [parse_model_string(s) for s in doc["boosters"]]
    widths = {m.num_features for m in models}
    if len(widths) != 1:
        raise ValueError(f"CV folds disagree on the number of features: {sorted(widths)}")
    return models, int(doc.get("best_iteration", -1))
