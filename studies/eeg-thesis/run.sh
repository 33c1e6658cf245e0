#!/usr/bin/env bash
# The thesis-size EEG run, two folds (left-out participants) per command: each command finishes
# its folds, so a stop loses at most the folds under way. Run from the repository root:
#   studies/eeg-thesis/run.sh [RUN_DIR] [LAVA_NT]
# RUN_DIR defaults to runs/eeg-thesis, LAVA_NT to .venv/bin/lava-nt. Rerunning skips what is done.
# FIRST=9 starts at the pair 9 10, LAST=7 ends with the pair 7 8 (the code the run was recorded
# with records every command, also one that finds its folds done; complete_folds.py prints where
# to continue).
# PRETRAIN_SEEDS="0 1 2" adds the nested runs of pretraining seeds 1 and 2 (RUN_DIR/pretrain-seed-S);
# METHODS="none nt2 ..." runs a subset of the methods (the pretraining-seed runs of the study:
# PRETRAIN_SEEDS="0 1 2" LAST=7 METHODS="none nt2 spiking_bias spiking_bias_sparse volumetric
# ablation", see README.md).
set -euo pipefail
run=${1:-runs/eeg-thesis}
lava_nt=${2:-.venv/bin/lava-nt}
read -r -a pretrain_seeds <<< "${PRETRAIN_SEEDS:-0}"
read -r -a methods <<< "${METHODS:-none nt2 spiking_bias spiking_bias_sparse volumetric ablation tft readout lora logreg}"
# Several pretraining seeds: one command per further seed (--pretrain-seeds 0 1, then 0 1 2), so
# each nested run's folds are recorded by the command that made them as soon as they finish.
for a in $(seq "${FIRST:-1}" 2 "${LAST:-31}"); do
  for k in $(seq "$((${#pretrain_seeds[@]} > 1 ? 2 : 1))" "${#pretrain_seeds[@]}"); do
    seeds=()
    if [ "$k" -gt 1 ]; then seeds=(--pretrain-seeds "${pretrain_seeds[@]:0:k}"); fi
    "$lava_nt" eeg run --out "$run" --participants "$a" "$((a + 1))" --seeds 0-4 "${seeds[@]}" \
      --methods "${methods[@]}" \
      --lava-check 2 --qat --qat-init float --qat-epochs 10 --no-progress --workers 2
  done
done
