#!/usr/bin/env bash
# The speed harness of issue 6: see bench/run.py and docs/benchmarks.md.
#   bench/run.sh            full run (a few minutes; writes docs/benchmarks.md)
#   bench/run.sh --smoke    seconds, writes nothing (for CI)
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions"
py="$(ls -d "$py"/3.11.* | head -1)/bin/python"
exec "$py" bench/run.py "$@"
