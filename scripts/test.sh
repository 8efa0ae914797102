#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite on PostgreSQL, Redis, a real
# Celery worker and headless Chromium. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh requirements-test.txt
bash scripts/test-services.sh

export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modelarts}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export CONSOLE_VAR_DIR="${CONSOLE_VAR_DIR:-$PWD/var/test}"
export DJANGO_ALLOW_ASYNC_UNSAFE=true
mkdir -p "$CONSOLE_VAR_DIR"

bash scripts/compile-messages.sh

# The layers (one way down) and the style are part of the suite: a cycle or a drift fails it.
echo "Checking layers (import-linter) and style (ruff)"
.venv/bin/lint-imports --no-cache
.venv/bin/ruff check .
.venv/bin/ruff format --check .

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest's 5 means "no tests ran": that is a failure of the suite, not a pass.
exit $status
