"""The versions of the mini family's decoding engines, one of which every row records.

A torch-free module of its own so that the result store can write it into ``versions["fastlm"]``
without loading torch. Version 3 (``batchlm.BatchedMistral``, the default) decodes a batch of
configurations at once and shares prompt prefixes; version 2 (``fastlm.FastMistral``, one
configuration at a time, attention as batched matmuls) and version 1 (the same, attention
broadcast and summed) are kept as references. Version 2 and 1 do the same arithmetic in another
order, version 3 version 2's except the shape of the decoding attention's products (one per row,
not per kv head). Whether a stored row's per-item bits follow from its configuration on another
engine version is what ``python -m smm_bench_collection.recheck`` measures: version 2 against
version 1 in docs/PROVENANCE.md, version 3's sample in ``collection/rechecks/`` (each report
names the command that made it).
A check on a sample, not a proof: a near tie in a greedy step can resolve differently elsewhere.
"""
ENGINES = ("batched", "fast", "hf")  # the evaluator's decoding engines (batchlm, fastlm, Hugging Face)
DECODE_ATTENTION = ("bmm", "broadcast")  # the fast engine's decoding attention; "broadcast" is version 1's
ENGINE_VERSION = "3"  # the default engine's (batched): rows whose result names no engine record it


def engine_version(engine: str, decode_attention: str = "bmm") -> str | None:
    """The version a row evaluated by ``engine`` records (None: not a mini engine, the Hugging Face model)."""
    if engine == "batched":
        return ENGINE_VERSION
    if engine == "fast":
        return {"bmm": "2", "broadcast": "1"}[decode_attention]
    return None
