#!/usr/bin/env bash
# The main job on a fresh machine: set up what is missing (scripts/setup.sh, quick when all is there), then
# generate with the embedded default model (npm start: models/quantgpt-228.onnx). Extra arguments go to
# `lowbit generate` (e.g. ./run.sh --prompt "Once upon a time" --threads 1).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec npm start --silent -- "$@"
