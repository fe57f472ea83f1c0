"""SMM-Bench surrogate training (import name ``smm_bench_surrogates``): data to ONNX scenarios.

It reads the collection's stores, tunes and trains LightGBM per target (``train``, ``select``),
exports through the runtime's converter into a scenario folder, and writes the validity studies
shipped beside each bundled scenario (``report``, ``summary``, ``endpoints``, ``rebuild``).
It may import the collection and the runtime, never the reverse; ``smm-bench train``
registers from ``commands``. Needs the ``[train]`` extra.
"""
