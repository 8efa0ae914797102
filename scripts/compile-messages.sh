#!/usr/bin/env bash
# Compile the translation catalogs when gettext is there; the compiled .mo files are
# committed too, so a machine without msgfmt still gets every language.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -d locale ] && command -v msgfmt >/dev/null 2>&1; then
  .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=var -v 0
fi
