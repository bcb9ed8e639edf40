#!/usr/bin/env bash
# Regenerates corpora/demo/werkzeug-incident.snapshot: a real redis-server filled by real Python 2.7
# and 3.8 through Werkzeug 0.16.1's RedisCache (tests/e2e/werkzeug_cache.py), captured with
# `cache-compat snapshot`. Needs what `bash .ci/test-all` installs (redis-server, target/pydeps).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYENV_ROOT="${PYENV_ROOT:-$( (command -v pyenv >/dev/null && pyenv root) || echo "$HOME/.pyenv")}"
py() { ls -d "$PYENV_ROOT"/versions/"$1".*/bin/python | sort -V | tail -n 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >/dev/null &
pid=$!
trap 'kill $pid; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
PYTHONWARNINGS=ignore PYTHONPATH=target/pydeps/py27 "$(py 2.7)" tests/e2e/werkzeug_cache.py fill 127.0.0.1 "$port" "page:py27:"
PYTHONWARNINGS=ignore PYTHONPATH=target/pydeps/py38 "$(py 3.8)" tests/e2e/werkzeug_cache.py fill 127.0.0.1 "$port" "page:py38:"
cargo run --release -q -- snapshot --redis "redis://127.0.0.1:$port/0" --out corpora/demo/werkzeug-incident.snapshot
