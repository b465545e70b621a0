#!/usr/bin/env bash
# A/B of two latchkey release binaries on case 1 (GET /api/resource with an
# opaque Bearer token): the same seeded 1,000-user store, wrk -t2 -c64 -d8s,
# the binaries alternated three times so drift on a shared machine hits both.
# Build the seed example first: cargo build --release --examples.
#
# Usage: bash bench/ab.sh OLD_BINARY NEW_BINARY
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { echo "usage: bash bench/ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
command -v wrk >/dev/null || sudo apt-get install -y -q wrk
export RUST_LOG='warn,latchkey=info,latchkey::http::server=warn' NO_COLOR=1
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
target/release/examples/seed --data-dir "$work/d" --users 1000 --tokens 1000 \
  --tokens-out "$work/t" --tokens-out-count 1 >/dev/null
token=$(head -1 "$work/t")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for round in 1 2 3; do
  for bin in "$@"; do
    "$bin" --data-dir "$work/d" --listen "127.0.0.1:$port" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
    result=$(AUTHORIZATION="Bearer $token" wrk -t2 -c64 -d8s --latency -s bench/header.lua \
      "http://127.0.0.1:$port/api/resource" | awk '/Requests\/sec/{r=$2} / 99%/{p=$2} END{print r " req/s, p99 " p}')
    echo "round $round $bin: $result"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done
