#!/usr/bin/env bash
# Run every check CI runs: lint (ruff), types (mypy --strict) and the whole test
# suite, unit and integration (SIPp as a real SIP peer). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev sip-tester
echo "== ruff"; .venv/bin/ruff check siprec-appliance tests bench
echo "== ruff format"; .venv/bin/ruff format --check siprec-appliance tests bench
echo "== mypy --strict"; .venv/bin/mypy
echo "== pytest"; exec .venv/bin/pytest -q "$@"
