"""Build a scenario folder for an SMM space from LightGBM CV ensembles (text models).

Shared by the importer of the authors' files and by the training side
(``smm_bench_surrogates``), so both produce the same graph layout: the learner's features
are the space's categorical codes 0..K-1 (choice order, e.g. DFS "A"=0, "B"=1, "none"=2)
followed by its floats, both in sorted-name order. Needs the ``onnx`` extra, never LightGBM.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .lgbm_text import TextModel
from .paths import install_hint
from .scenario import CITATIONS, Target, library_versions, space_tables, write_scenario
from .spaces import space_json

__all__ = ["write_lightgbm_scenario", "write_multifidelity_scenario"]


def write_lightgbm_scenario(
    folder: Path,
    *,
    name: str,
    space: str,
    targets: Sequence[tuple[Target, Sequence[TextModel]]],
    description: str = "",
    provenance: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    citation: Sequence[str] = CITATIONS,
    derived_features: str | None = None,
) -> Path:
    """Convert ``targets`` (each a Target and its CV fold models) and write the scenario.

    The graph outputs the fold mean of each target clipped to ``[Target.lower, Target.upper]``
    (use lower=0, upper=inf for a cost in seconds). ``derived_features`` names the set of
    :mod:`smm_bench_plugin.derived_features` the models were trained with (appended after the
    raw features; the graph computes it); it is recorded in ``provenance.derived_features``.
    """
    from .onnx_export import build_onnx

    doc = space_json(space)
    cat_names, _, _, lower, upper = space_tables(doc)

    def graph(subset: Sequence[tuple[Target, Sequence[TextModel]]], what: str) -> bytes:
        return build_onnx(
            [list(models) for _, models in subset],
            n_cat=len(cat_names),
            cont_lower=lower,
            cont_upper=upper,
            target_lower=[t.lower for t, _ in subset],
            target_upper=[t.upper for t, _ in subset],
            doc_string=f"SMM-Bench scenario {name}{what}",
            derived=derived_features,
        )

    try:
        model_bytes = graph(targets, "")
        # the objective alone, for Benchmark.objective (see the scenario format); pointless if it is the only target
        objective = [(t, m) for t, m in targets if t.role == "objective"]
        objective_bytes = graph(objective, ": objective only") if len(targets) > 1 and len(objective) == 1 else None
    except ModuleNotFoundError as e:
        if e.name == "onnx":
            raise ModuleNotFoundError("converting LightGBM models needs the 'onnx' package: " +
                                      install_hint("onnx"), name="onnx") from None
        raise
    prov = dict(provenance or {})
    if derived_features is not None:
        from .derived_features import feature_names

        prov["derived_features"] = {"set": derived_features, "names": feature_names(derived_features)}
    prov.setdefault("targets", {
        t.name: {"folds": len(models), "trees_per_fold": [len(m.trees) for m in models],
                 "objective": models[0].objective}
        for t, models in targets
    })
    return write_scenario(
        folder,
        name=name,
        model_bytes=model_bytes,
        objective_model_bytes=objective_bytes,
        space_doc=doc,
        targets=[t for t, _ in targets],
        space=space,
        description=description,
        citation=citation,
        provenance=prov,
        quality=quality,
        versions=library_versions("smm-bench-plugin", "onnx", "numpy"),
    )


def write_multifidelity_scenario(
    folder: Path,
    *,
    name: str,
    space: str,
    trees: Sequence[tuple[str, Sequence[TextModel]]],
    targets: Sequence[Target],
    fidelity: Mapping[str, Any],
    description: str = "",
    provenance: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    citation: Sequence[str] = CITATIONS,
    derived_features: str | None = None,
) -> Path:
    """Write a multi-fidelity scenario (:mod:`.fidelity_graph`): ``trees`` are the fold models of
    the full-fidelity objective, one delta per lower rung, the test and the cost target, in that
    order (each with a label for the provenance); ``targets`` the three output columns (objective,
    test, cost); ``fidelity`` the ``meta.json`` entry (``name``, ``ladder``, ``noise_scale``,
    ``cost_share`` and how the rungs are derived)."""
    from .fidelity_graph import splice_fidelity
    from .onnx_export import build_onnx

    doc = space_json(space)
    cat_names, _, _, lower, upper = space_tables(doc)
    ladder = [int(k) for k in fidelity["ladder"]]
    if len(trees) != len(ladder) + 2:
        raise ValueError(f"need {len(ladder) + 2} tree models (objective, {len(ladder) - 1} deltas, test, cost), "
                         f"got {len(trees)}")

    def graph(models: Sequence[Sequence[TextModel]], with_cost: bool, what: str) -> bytes:
        raw = build_onnx([list(m) for m in models], n_cat=len(cat_names), cont_lower=lower, cont_upper=upper,
                         target_lower=[-math.inf] * len(models), target_upper=[math.inf] * len(models),
                         doc_string=f"SMM-Bench multi-fidelity scenario {name}{what}", derived=derived_features)
        return splice_fidelity(raw, n_cat=len(cat_names), lower=lower, upper=upper, ladder=ladder,
                               noise_scale=fidelity["noise_scale"],
                               cost_share=fidelity["cost_share"] if with_cost else None)

    models = [m for _, m in trees]
    model_bytes = graph(models, True, "")
    objective_bytes = graph(models[:len(ladder)], False, ": objective only")
    prov = dict(provenance or {})
    if derived_features is not None:
        from .derived_features import feature_names

        prov["derived_features"] = {"set": derived_features, "names": feature_names(derived_features)}
    prov.setdefault("targets", {label: {"folds": len(m), "trees_per_fold": [len(x.trees) for x in m],
                                        "objective": m[0].objective} for label, m in trees})
    return write_scenario(folder, name=name, model_bytes=model_bytes, objective_model_bytes=objective_bytes,
                          space_doc=doc, targets=list(targets), space=space, description=description,
                          citation=citation, provenance=prov, quality=quality,
                          versions=library_versions("smm-bench-plugin", "onnx", "numpy"),
                          extra_meta={"fidelity": dict(fidelity)})
