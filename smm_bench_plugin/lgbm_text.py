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

import math
import re
from dataclasses import dataclass

from .files import parse_json

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


_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)", re.IGNORECASE)
#: Any line-breaking or control character other than the '\n' that ends LightGBM's lines:
#: LightGBM ends lines at '\n' or '\r' only, so text where a '\n' became '\f' is one broken
#: line to LightGBM and must not be two good lines to us; '\r' (a CRLF copy) shifts every
#: tree away from the offsets ``tree_sizes`` records, which LightGBM refuses too.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")
#: LightGBM reads at most this many key=value lines per tree (``Tree::Tree(const char*)``).
MAX_TREE_LINES = 22
_REQUIRED_HEADER = ("num_class", "label_index", "max_feature_idx", "feature_names", "feature_infos")


def _numbers(value: str, pattern: re.Pattern, convert, where: str, key: str, count: int | None):
    tokens = value.split(" ") if value else []
    bad = next((t for t in tokens if not pattern.fullmatch(t)), None)
    if bad is not None:
        raise ValueError(f"{where}: {key} holds {bad[:40]!r}, not a number")
    if count is not None and len(tokens) != count:
        raise ValueError(f"{where}: {key} has {len(tokens)} entries, expected {count}")
    return tuple(convert(t) for t in tokens)  # float() reads LightGBM's %.17g output to the identical double


def _ints(value: str, where: str, key: str, count: int | None = None) -> tuple[int, ...]:
    return _numbers(value, _INT, int, where, key, count)


def _floats(value: str, where: str, key: str, count: int | None = None) -> tuple[float, ...]:
    return _numbers(value, _FLOAT, float, where, key, count)


def _one_int(fields: dict[str, str], key: str, where: str, default: int | None = None) -> int:
    if key not in fields:
        if default is None:
            raise ValueError(f"{where}: missing field {key!r}")
        return default
    return _ints(fields[key], where, key, 1)[0]


def _parse_tree(fields: dict[str, str], where: str) -> Tree:
    """One tree block; the fields and counts LightGBM requires, and a well-formed tree."""
    if _one_int(fields, "is_linear", where, 0) != 0:
        raise NotImplementedError(f"{where}: linear trees (linear_tree=true) are not supported")
    n_leaves = _one_int(fields, "num_leaves", where)
    n_cat = _one_int(fields, "num_cat", where)
    if n_leaves < 1 or n_cat < 0:
        raise ValueError(f"{where}: num_leaves={n_leaves}, num_cat={n_cat}")
    if "leaf_value" not in fields:
        raise ValueError(f"{where}: missing field 'leaf_value'")
    leaf_value = _floats(fields["leaf_value"], where, "leaf_value", n_leaves)
    if not all(math.isfinite(v) for v in leaf_value):
        raise ValueError(f"{where}: non-finite leaf value")
    if n_leaves == 1:
        return Tree((), (), (), (), (), leaf_value, (), ())
    n_int = n_leaves - 1
    for key in ("left_child", "right_child", "split_feature", "threshold"):
        if key not in fields:
            raise ValueError(f"{where}: missing field {key!r}")
    for key, count in (("split_gain", n_int), ("internal_value", n_int), ("internal_weight", n_int),
                       ("internal_count", n_int), ("leaf_weight", n_leaves), ("leaf_count", n_leaves)):
        if key in fields:  # unused here, but LightGBM refuses the model when they are malformed
            _floats(fields[key], where, key, count)
    decision = (_ints(fields["decision_type"], where, "decision_type", n_int) if "decision_type" in fields
                else (0,) * n_int)
    boundaries = threshold_words = ()
    if n_cat:
        for key in ("cat_boundaries", "cat_threshold"):
            if key not in fields:
                raise ValueError(f"{where}: num_cat={n_cat} but no {key!r}")
        boundaries = _ints(fields["cat_boundaries"], where, "cat_boundaries", n_cat + 1)
        if boundaries[0] != 0 or any(b > a for b, a in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{where}: cat_boundaries {boundaries[:5]}... must rise from 0")
        threshold_words = _ints(fields["cat_threshold"], where, "cat_threshold", boundaries[-1])
    tree = Tree(
        split_feature=_ints(fields["split_feature"], where, "split_feature", n_int),
        threshold=_floats(fields["threshold"], where, "threshold", n_int),
        decision_type=decision,
        left_child=_ints(fields["left_child"], where, "left_child", n_int),
        right_child=_ints(fields["right_child"], where, "right_child", n_int),
        leaf_value=leaf_value,
        cat_boundaries=boundaries,
        cat_threshold=threshold_words,
    )
    for i, (d, t) in enumerate(zip(tree.decision_type, tree.threshold)):
        if not 0 <= d <= 15:
            raise ValueError(f"{where} node {i}: decision_type {d} is not a LightGBM decision type")
        if d & 1:
            if not (math.isfinite(t) and t == int(t) and 0 <= t < n_cat):
                raise ValueError(f"{where} node {i}: categorical split {t} is not one of the tree's {n_cat} "
                                 "category sets")
        elif not math.isfinite(t):
            raise ValueError(f"{where}: non-finite numerical threshold")
    _check_shape(tree, where)
    return tree


def _check_shape(tree: Tree, where: str) -> None:
    """Node 0 is the root and every other node and every leaf is reached exactly once."""
    n_int = len(tree.left_child)
    children = tree.left_child + tree.right_child
    bad = [c for c in children if not -tree.num_leaves <= c < n_int or c == 0]
    internal = sorted(c for c in children if c >= 0)
    leaves = sorted(~c for c in children if c < 0)
    if bad or internal != list(range(1, n_int)) or leaves != list(range(tree.num_leaves)):
        raise ValueError(f"{where}: left_child/right_child do not form a tree")


def _key_value(line: str, where: str) -> tuple[str, str]:
    key, sep, value = line.partition("=")
    if not sep or not key:
        raise ValueError(f"{where}: {line[:60]!r} is not a key=value line")
    return key, value


def parse_model_string(text: str) -> TextModel:
    """Parse one ``Booster.model_to_string()`` text into a :class:`TextModel`.

    As strict as LightGBM's own loader (``GBDT::LoadModelFromString``), and stricter where
    it would guess: lines end with '\n' only, a header key=value line has one '=', keys
    appear once, every number is a plain decimal literal, the trees are ``Tree=0, 1, ...``
    with at most 22 lines each, and with ``tree_sizes`` (LightGBM locates trees by it)
    every tree has exactly its recorded size. Raises ValueError on malformed text and
    NotImplementedError on model kinds whose prediction we do not reproduce (multiclass,
    linear trees, non-identity objectives).
    """
    if not isinstance(text, str) or not text.startswith("tree\n"):
        raise ValueError("not a LightGBM text model (it must start with a line 'tree')")
    end = text.find("\nend of trees\n")
    if end < 0 and not text.endswith("\nend of trees"):
        raise ValueError("truncated LightGBM model text: no 'end of trees' line")
    body = text[:end] if end >= 0 else text[:-len("\nend of trees")]  # up to the last tree's final '\n'
    bad = _CONTROL.search(body)
    if bad:
        line = body.count("\n", 0, bad.start()) + 1
        raise ValueError(f"line {line}: control character {bad.group()!r} (LightGBM lines end with '\\n' only)")
    lines = body.split("\n")
    header: dict[str, str] = {}
    flags: set[str] = set()
    i = 0
    while i < len(lines) and not lines[i].startswith("Tree="):
        line = lines[i]
        i += 1
        if not line or i == 1:
            continue
        if "=" not in line:
            flags.add(line)
            continue
        key, value = _key_value(line, f"line {i}")
        if key != "feature_names" and "=" in value:
            raise ValueError(f"line {i}: more than one '=' in {line[:60]!r}")
        if key in header:
            raise ValueError(f"line {i}: {key!r} appears twice in the header")
        header[key] = value
    missing = [k for k in _REQUIRED_HEADER if k not in header]
    if missing:
        raise ValueError(f"the model header lacks {', '.join(missing)}")
    max_feature_idx = _ints(header["max_feature_idx"], "header", "max_feature_idx", 1)[0]
    n_features = max_feature_idx + 1
    names = tuple(header["feature_names"].split(" ")) if header["feature_names"] else ()
    if n_features < 1 or len(names) != n_features or len(header["feature_infos"].split(" ")) != n_features:
        raise ValueError(f"max_feature_idx={max_feature_idx} but {len(names)} feature_names and "
                         f"{len(header['feature_infos'].split(' '))} feature_infos")
    n_class = _ints(header["num_class"], "header", "num_class", 1)[0]
    n_tpi = _ints(header.get("num_tree_per_iteration", str(n_class)), "header", "num_tree_per_iteration", 1)[0]
    if n_tpi != 1 or n_class != 1:
        raise NotImplementedError("multiclass LightGBM models are not supported (num_class must be 1)")
    objective = header.get("objective", "custom")
    tokens = objective.split()
    name = tokens[0] if tokens else "custom"
    if name not in IDENTITY_OBJECTIVES or "sqrt" in tokens[1:]:
        raise NotImplementedError(
            f"objective {objective!r} has an output transform the converter does not reproduce; "
            f"supported (identity) objectives: {sorted(IDENTITY_OBJECTIVES)}"
        )
    trees, sizes = _parse_trees(lines, i)
    if "tree_sizes" in header:
        recorded = _ints(header["tree_sizes"], "header", "tree_sizes", len(trees))
        wrong = next((k for k, (a, b) in enumerate(zip(recorded, sizes)) if a != b), None)
        if wrong is not None:
            raise ValueError(f"Tree={wrong}: {sizes[wrong]} bytes, but tree_sizes records {recorded[wrong]} "
                             "(LightGBM finds each tree by these sizes)")
    for k, t in enumerate(trees):
        if any(f < 0 or f >= n_features for f in t.split_feature):
            raise ValueError(f"Tree={k}: split feature outside 0..{max_feature_idx}")
    return TextModel(
        num_features=n_features,
        feature_names=names,
        objective=objective,
        average_output="average_output" in flags,
        num_tree_per_iteration=n_tpi,
        trees=tuple(trees),
    )


def _parse_trees(lines: list[str], i: int) -> tuple[list[Tree], list[int]]:
    """The ``Tree=k`` blocks from line ``i`` on, and each block's size in bytes (up to the next block)."""
    trees: list[Tree] = []
    sizes: list[int] = []
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        where = f"line {i + 1}"
        if lines[i] != f"Tree={len(trees)}":
            raise ValueError(f"{where}: expected 'Tree={len(trees)}', got {lines[i][:60]!r}")
        start = i
        i += 1
        fields: dict[str, str] = {}
        while i < len(lines) and lines[i]:
            key, value = _key_value(lines[i], f"line {i + 1}")
            if key in fields:
                raise ValueError(f"line {i + 1}: {key!r} appears twice in Tree={len(trees)}")
            fields[key] = value
            i += 1
        if len(fields) > MAX_TREE_LINES:
            raise ValueError(f"Tree={len(trees)}: {len(fields)} lines; LightGBM reads at most {MAX_TREE_LINES}")
        trees.append(_parse_tree(fields, f"Tree={len(trees)}"))
        while i < len(lines) and not lines[i]:
            i += 1
        sizes.append(sum(len(line.encode()) + 1 for line in lines[start:i]))
    return trees, sizes


def parse_cv_booster_json(text: str) -> tuple[list[TextModel], int]:
    """Parse ``CVBooster.save_model`` JSON into (fold models, recorded best_iteration)."""
    doc = parse_json(text, "CVBooster JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("boosters"), list) or not doc["boosters"]:
        raise ValueError("CVBooster JSON must be an object with a non-empty 'boosters' list")
    if not all(isinstance(b, str) for b in doc["boosters"]):
        raise ValueError("CVBooster JSON: every entry of 'boosters' must be a model string")
    best = doc.get("best_iteration", -1)
    if isinstance(best, bool) or not isinstance(best, int):
        raise ValueError(f"CVBooster JSON: best_iteration must be an integer, got {best!r}")
    models = []
    for k, booster in enumerate(doc["boosters"]):
        try:
            models.append(parse_model_string(booster))
        except (ValueError, NotImplementedError) as e:
            raise type(e)(f"booster {k}: {e}") from None
    widths = {m.num_features for m in models}
    if len(widths) != 1:
        raise ValueError(f"CV folds disagree on the number of features: {sorted(widths)}")
    return models, best
