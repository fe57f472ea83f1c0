#!/usr/bin/env bash
# The batched mini engine on one CUDA device against the CPU reference (bench/cuda_reference.json):
# seconds per configuration at batch sizes 1, 4, 16, 64 for both spaces, every answer compared.
# Run from the repository root on a machine whose python3 has torch (CUDA), numpy, transformers
# and tokenizers; nothing is installed and nothing is downloaded (the checkout is imported as it
# is). Batch sizes that would end past --budget-s (default 360 s) are skipped; the whole run is
# killed at 450 s. Output: $OUT/cuda-check.json and .log (bench/results/ when OUT is unset);
# exit 1 if any answer differs. Extra arguments go to bench/cuda_check.py (a CPU dry run here:
# bash bench/cuda_check.sh --device cpu --batches 1,4).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
out="${OUT:-bench/results}"
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true; } | tee "$out/cuda-check.log"
timeout 450 "${PYTHON:-python3}" -m bench.cuda_check --out "$out/cuda-check.json" "$@" 2>&1 | tee -a "$out/cuda-check.log"
exit "${PIPESTATUS[0]}"
