#!/usr/bin/env bash
# Create (or refresh) the project's Python 3.10 virtual environment in .venv.
#
# lava-nc 0.10.0 (archived upstream, last release) declares Requires-Python <3.11 and fails to
# import on 3.11, so the environment must be built on CPython 3.10. This script looks for one in:
#   $LAVA_NT_PYTHON, python3.10 on PATH, pyenv (any 3.10.x it manages), ~/.pyenv/versions/3.10*,
#   /usr/local/bin, /usr/bin, /opt/python*/bin, /opt/homebrew/bin, uv-managed interpreters,
# and fails with the list of what it tried if none answers as 3.10.
#
# The venv is rebuilt only when missing or when pyproject.toml / constraints.txt changed
# (a hash is kept in .venv/.lava-nt-stamp). Set LAVA_NT_VENV to use another location.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LAVA_NT_VENV:-$root/.venv}"
extras="${LAVA_NT_EXTRAS:-test,plots,images,docs}"
stamp="$venv/.lava-nt-stamp"

want_stamp="$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -c1-16)-$extras"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
  exit 0
fi

tried=()
is_py310() {
  local cand="$1"
  [[ -n "$cand" ]] || return 1
  tried+=("$cand")
  "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1
}

find_python() {
  local c
  if [[ -n "${LAVA_NT_PYTHON:-}" ]]; then
    is_py310 "$LAVA_NT_PYTHON" && { echo "$LAVA_NT_PYTHON"; return 0; }
  fi
  c="$(command -v python3.10 2>/dev/null || true)"
  [[ -n "$c" ]] && is_py310 "$c" && { echo "$c"; return 0; }
  if command -v pyenv >/dev/null 2>&1; then
    local v
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -rV); do
      c="$(pyenv root)/versions/$v/bin/python"
      is_py310 "$c" && { echo "$c"; return 0; }
    done
  fi
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python /root/.pyenv/versions/3.10*/bin/python \
           /usr/local/bin/python3.10 /usr/bin/python3.10 /opt/python*/bin/python3.10 \
           /opt/homebrew/bin/python3.10 "$HOME"/.local/share/uv/python/cpython-3.10*/bin/python3.10; do
    [[ -e "$c" ]] || continue
    is_py310 "$c" && { echo "$c"; return 0; }
  done
  c="$(command -v python3 2>/dev/null || true)"
  [[ -n "$c" ]] && is_py310 "$c" && { echo "$c"; return 0; }
  return 1
}

if ! py="$(find_python)"; then
  {
    echo "lava-nt: no Python 3.10 interpreter found."
    echo "  Lava (lava-nc 0.10.0, archived upstream) only runs on Python 3.10."
    echo "  Tried: ${tried[*]:-(nothing found on PATH, in pyenv or in the usual install places)}"
    echo "  Install one (e.g. 'pyenv install 3.10.13') or point LAVA_NT_PYTHON at it."
  } >&2
  exit 1
fi

echo "lava-nt: building $venv with $py ($("$py" -V 2>&1)); torch is a large download the first time." >&2
# The stamp is written last: an interrupted build has no stamp and is rebuilt from scratch next time.
rm -rf "$venv"
"$py" -m venv "$venv"
pipi() { "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$root/constraints.txt" "$@"; }
pipi setuptools wheel
pipi -e "$root[$extras]"
echo "$want_stamp" > "$stamp"
echo "lava-nt: environment ready ($venv)." >&2
