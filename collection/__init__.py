"""SMM-Bench data collection (import name ``smm_bench_collection``): the true objective.

It merges models for real (task arithmetic on PS, data-flow layer paths on DFS), answers the
evaluation sets, judges every item and stores one row per configuration with its per-item bits
(``store``), asked by the paper's samplers (``samplers``) under a resumable plan (``plan``,
``collect``). The surrogate layer trains on what it stores; the runtime never imports it.
It may import the runtime (the search spaces, BLAS pinning, the shared settings of the
optimisers); ``smm-bench collect`` registers from ``commands``. Needs the ``[collect]`` extra.
"""
