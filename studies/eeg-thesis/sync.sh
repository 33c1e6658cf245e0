#!/usr/bin/env bash
# Copy the finished folds of a run directory's records into this study and regenerate the docs
# blocks made from them. Run from the repository root:
#   studies/eeg-thesis/sync.sh [RUN_DIR] [LAVA_NT]
set -euo pipefail
run=${1:-runs/eeg-thesis}
lava_nt=${2:-.venv/bin/lava-nt}
python=$(dirname "$lava_nt")/python
study=studies/eeg-thesis
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" "$study/complete_folds.py" "$run" "$tmp/records"
rm -rf "$study"/run.json "$study"/results.jsonl "$study"/commands.jsonl "$study"/pretrain-seed-*
cp -r "$tmp/records/." "$study/"
"$lava_nt" eeg report "$study" --no-plots --docs docs/eeg.md --docs-name thesis
for page in docs/qat.md docs/fixed_point.md; do
  "$lava_nt" eeg report "$study" --no-plots --docs "$page" --docs-name thesis-deployment \
    --docs-part deployment
done
"$lava_nt" eeg report "$study" --no-plots --docs README.md --docs-name thesis-claims \
  --docs-part claims
