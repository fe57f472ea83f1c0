"""Hydra configs shipped for carps: ``hydra.searchpath=[pkg://smm_bench_plugin/configs]`` (see carps_adapter)."""
