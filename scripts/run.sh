#!/usr/bin/env bash
# Start the appliance with embedded defaults: SIP on 5060 (UDP, TCP), API on 8080,
# data in ./var, rules in ./rules, RTP ports 10000-20000; no external services.
# Any SIPREC_* environment variable or --config FILE overrides the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/siprec-appliance "$@"
