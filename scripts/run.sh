#!/usr/bin/env bash
# Set up (idempotent) and run the console: web + Celery worker + Celery beat.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh requirements.txt
bash scripts/compile-messages.sh
.venv/bin/python manage.py setup_console
exec .venv/bin/python manage.py serve "$@"
