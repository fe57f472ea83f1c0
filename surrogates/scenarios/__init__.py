"""The bundled scenarios: one folder each (model.onnx, config_space.json, encoding.json, meta.json,
and the validity report REPORT.md with its figures). Installed as package data; found by
``smm_bench_plugin.list_scenarios()``. Rebuilt by ``smm-bench train`` and
``python -m smm_bench_surrogates.report`` (see each REPORT.md for the exact commands).
"""
