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

# shellcheck makes the install-script test run instead of skipping (root CI machines only)
if [ "$(id -u)" = 0 ] && ! command -v shellcheck >/dev/null; then
    apt-get install -y -q shellcheck >/dev/null 2>&1 || true
fi
# bubblewrap is the executor sandbox (without it the node refuses network tasks and the
# hostile-model suite skips); libseccomp2 compiles its seccomp filter
if [ "$(id -u)" = 0 ] && ! command -v bwrap >/dev/null; then
    apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1; } \
        || echo "warning: bubblewrap could not be installed: sandboxed compute and e2e tests will fail closed" >&2
fi

.venv/bin/ruff check oarn_tui tests benchmarks packaging assets/icons
.venv/bin/lint-imports --no-logo   # the layer map (pyproject.toml [tool.importlinter])
.venv/bin/mypy oarn_tui            # types (pyproject.toml [tool.mypy]: strict, whole package)
.venv/bin/python -m oarn_tui.docs_gen --check   # docs/cli.md and docs/configuration.md are fresh
.venv/bin/python -m pytest -q "$@"
