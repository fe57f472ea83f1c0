"""SMM-Bench search spaces as ConfigSpace JSON (package data; see smm_bench_plugin.spaces)."""
