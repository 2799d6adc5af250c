#!/usr/bin/env bash
# Install everything the tests need from this repository's own files, then run the whole suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The llm extra compiles llama.cpp: a portable build (no -march=native) so CI machines agree.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
.venv/bin/python -m pip install --quiet -e ".[test,llm,torch]"

# Contracts toolchain (solc-js, OpenZeppelin) and the anvil devnet chain, pinned in package-lock.
if [ -f contracts/package-lock.json ]; then
    (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
    (cd contracts && npm run --silent check)
fi
for dir in tests/storage/js tests/p2p/js; do
    if [ -f "$dir/package-lock.json" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done

.venv/bin/ruff check oarn_tui tests benchmarks
.venv/bin/python -m pytest -q "$@"
