#!/usr/bin/env bash
# Install lava-nt as it was at COMMIT into DIR, beside this checkout's environment, and write the
# command DIR/lava-nt that runs it (the code a recorded run continues with: its commit is in the
# run's commands.jsonl). No second virtual environment: the package alone goes into DIR/site
# (pip --target, no dependencies) and runs on this checkout's .venv, whose dependencies it shares;
# the commit is what it records, because git runs in DIR/code. Run from the repository root:
#   studies/eeg-thesis/frozen.sh COMMIT DIR
#   DIR/lava-nt eeg run ...        (or as LAVA_NT of run.sh)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: studies/eeg-thesis/frozen.sh COMMIT DIR" >&2
  exit 2
fi
commit=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
python=$(pwd)/.venv/bin/python
if [ ! -x "$python" ]; then
  echo "frozen.sh: $python not found: run 'make env' first" >&2
  exit 1
fi
if [ -e "$dir/code" ]; then
  echo "frozen.sh: $dir/code exists: choose an empty DIR" >&2
  exit 1
fi
git clone -q "$(pwd)" "$dir/code"
git -C "$dir/code" checkout -q "$commit"
"$python" -m pip install -q --no-deps --no-build-isolation --target "$dir/site" "$dir/code"
printf 'import sys\nfrom lava_nt.cli import main\nsys.exit(main())\n' > "$dir/entry.py"
cat > "$dir/lava-nt" <<EOF
#!/bin/sh
export PYTHONPATH="$dir/site"
export GIT_DIR="$dir/code/.git"
export GIT_WORK_TREE="$dir/code"
exec "$python" "$dir/entry.py" "\$@"
EOF
chmod +x "$dir/lava-nt"
echo "$dir/lava-nt: lava-nt at $(git -C "$dir/code" rev-parse --short=10 HEAD)"
