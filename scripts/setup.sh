#!/usr/bin/env bash
# One-step set-up on a fresh Debian machine: the system packages the tests need, then the npm packages
# (which also builds dist/ through `prepare`). Idempotent and quick when all is there: ./run.sh and ./test.sh
# call it every time, and .ci/run through ./test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the test suite needs: Debian's torch, numpy and pytest for the training stage's tests
# (run with /usr/bin/python3, where Debian installs them); python3 also runs the golden-vector generator
# check; Chromium runs the runtime's browser test (driven by playwright-core, which never downloads a
# browser of its own). The SWORD modules are public-domain texts of the training corpus
# (scripts/build_corpus.ts reads them from /usr/share/sword; docs/DATA.md).
APT_PACKAGES=(python3 python3-torch python3-numpy python3-pytest chromium sword-text-kjv sword-comm-mhcc sword-comm-tdavid)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Dependencies' install scripts are denied in package.json's allowScripts, so recent npm (11.19 here) runs
# none and does not warn about them: onnxruntime-node's would download a CUDA add-on from outside the npm
# registry, and the CPU binaries ship in the package; esbuild's and protobufjs' only check what is already
# there. An npm without allowScripts runs them all, so the variable still skips that download there.
export ONNXRUNTIME_NODE_INSTALL=skip

# npm packages: a clean `npm ci` only when node_modules does not match package-lock.json (a stamp holds the
# lock file's hash), so that ./run.sh and ./test.sh start at once on a machine that is already set up.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.lowbit-setup-stamp
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "setup: installing npm packages (npm ci; it also builds dist/ and the WASM kernels)" >&2
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
  touch dist/.lowbit-build-stamp
  exit 0
fi

# The build (WASM kernels, their embedded copies, dist/, the demo page): again only when a source is newer
# than the last build.
built=dist/.lowbit-build-stamp
if [ ! -f "$built" ] || [ -n "$(find assembly src scripts/embed_wasm.ts scripts/build_demo.ts asconfig.json tsconfig.json package.json -newer "$built" -print -quit 2>/dev/null)" ]; then
  echo "setup: building (npm run build)" >&2
  npm run build --silent
  touch "$built"
fi
