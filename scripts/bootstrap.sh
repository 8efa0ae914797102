#!/usr/bin/env bash
# Find Python 3.12+, make .venv, install the pinned requirements when they changed.
# Sourced by scripts/run.sh and scripts/test.sh; idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
  local candidate
  # 3.12 first: it is what the pinned torch wheel and the test suite are checked on.
  for candidate in python3.12 python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local version
    for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.|$)' | sort -V); do
      candidate="$(pyenv prefix "$version")/bin/python"
      if [ -x "$candidate" ] && "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then
        echo "$candidate"; return 0
      fi
    done
  fi
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    command -v python3; return 0
  fi
  return 1
}

requirements="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
  if ! PYTHON=$(find_python); then
    echo "ModelArts Console needs Python 3.12 or newer (Django 6 refuses older ones)." >&2
    echo "Install python3.12 or python3.13 (or 'pyenv install 3.12') and run this again." >&2
    exit 1
  fi
  echo "Creating .venv with $PYTHON ($("$PYTHON" --version))"
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the pinned requirements changed.
stamp=".venv/.installed-$(basename "$requirements")"
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "Installing $requirements into .venv (the first time takes a few minutes: torch is large)"
  # This machine's pip configuration names local wheel folders that may be absent;
  # pip warns about each for every package, which hides real messages.
  quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
  quiet .venv/bin/python -m pip install --quiet --upgrade pip
  quiet .venv/bin/python -m pip install --quiet -r "$requirements"
  echo "$digest" > "$stamp"
fi
