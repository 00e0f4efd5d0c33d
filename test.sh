#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up what is missing (scripts/setup.sh), then npm test (type
# check, node --test with headless Chromium, pytest on train/). .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec npm test
