"""Performance suite of smm-bench-plugin: ``python -m bench`` from the repository root.

Not part of the unit tests and not shipped in the wheel: it lives in the source checkout,
trains its paper-sized LightGBM ensembles on first use (cached in ``bench/.cache/``) and
writes ``bench/results/<machine>.json`` and ``.md``. See ``bench/README.md``.
"""
