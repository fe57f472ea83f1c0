#!/usr/bin/env bash
# The multi-fidelity comparisons that docs/multi-fidelity.md quotes (run from the repository root).
# Defaults run in the main venv; SMAC3 needs the ecosystem venv (.ci/run: eco), DEHB its own (dehb).
set -euo pipefail
MAIN=${MAIN:-.venv/bin}; ECO=${ECO:-.venv-ci/eco/bin}; DEHB=${DEHB:-.venv-ci/dehb/bin}
for sp in ps dfs; do
  start=$(date +%s.%N)
  "$MAIN/smm-bench" compare --scenario "smm_${sp}_mini_mf" --seeds 5 --out "docs/multi-fidelity/${sp}_defaults" --quiet
  echo "defaults on smm_${sp}_mini_mf: $(echo "$(date +%s.%N) - $start" | bc) s wall"
  "$ECO/smm-bench" compare --scenario "smm_${sp}_mini_mf" --seeds 5 --optimizers random,smac-hb,smac-mf \
    --out "docs/multi-fidelity/${sp}_smac" --quiet --no-plot
  "$DEHB/smm-bench" compare --scenario "smm_${sp}_mini_mf" --seeds 5 --optimizers random,dehb \
    --out "docs/multi-fidelity/${sp}_dehb" --quiet
done
