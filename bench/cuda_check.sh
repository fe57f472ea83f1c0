#!/usr/bin/env bash
# The batched mini engine on one CUDA device against the CPU reference (bench/cuda_reference.json):
# seconds per configuration at batch sizes 1, 4, 16, 64 for both spaces, every answer compared.
# Run from the repository root on a machine whose python3 has torch (CUDA), transformers and
# tokenizers; nothing is installed. Takes about 2-4 minutes on one H200 (see bench/README.md).
# Output: $OUT/cuda-check.json and .log (bench/results/ when OUT is unset); exit 1 if answers differ.
set -uo pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
out="${OUT:-bench/results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/cuda-check.log"
python3 -m bench.cuda_check --out "$out/cuda-check.json" 2>&1 | tee -a "$out/cuda-check.log"
exit "${PIPESTATUS[0]}"
