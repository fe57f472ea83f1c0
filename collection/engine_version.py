"""The version of the mini family's decoding engine (``fastlm.FastMistral``), recorded in every row.

A torch-free module of its own so that the result store can write it into ``versions["fastlm"]``
without loading torch. Version 2 (2026-12-03) decodes attention with batched matmuls; version 1
broadcast and summed. Both do the same arithmetic in another order: re-evaluating 4 stored rows
of each of the 21 runs bundled on 2026-12-03 (84 rows, collected on version 1) gave the same per-item bits
(``python -m smm_bench_collection.recheck``; docs/collection.md). That is a check on a
sample, not a proof: a near tie in a greedy step could still resolve differently elsewhere.
"""
ENGINE_VERSION = "2"
DECODE_ATTENTION = ("bmm", "broadcast")  # the engine's decoding attention; "broadcast" is version 1's
