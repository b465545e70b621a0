#!/usr/bin/env bash
# Benchmarks a protected request with an opaque token against one with a
# signed (JWT) token, on one release server, in one run, so the ratio is
# meaningful on a shared, noisy machine. Never run by CI.
#
#   bash bench/run.sh            # prints a table; results also in bench/results.txt
#
# Settings: wrk -t2 -c64 -d10s on loopback, GET /api/resource.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --locked -q
bin=target/release/latchkey
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
export LATCHKEY_PASSWORD__SCRYPT_LOG_N=4 LATCHKEY_PASSWORD__SCRYPT_P=1
export LATCHKEY_THROTTLE__IP_BURST=1000 NO_COLOR=1
# The per-request access log is off (it measures the log, not the server);
# "listening on" still prints.
export RUST_LOG='warn,latchkey=info,latchkey::http::server=warn'

start() { # start FORMAT: runs the server on a free port, sets $pid and $base
  # exec: $pid must be the server itself, so stop() can signal it.
  (cd "$work" && LATCHKEY_TOKENS__FORMAT="$1" exec "$OLDPWD/$bin" \
      --listen 127.0.0.1:0 --data-dir "$work/data" 2>"$work/log") &
  pid=$!
  for _ in $(seq 100); do
    base=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1 || true)
    [ -n "$base" ] && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$work/log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; : >"$work/log"; }
token() { curl -sf -X POST -u bench:'bench correct horse' "$base/api/tokens" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }

start opaque
curl -sf -X POST "$base/api/users" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench correct horse"}' >/dev/null
opaque=$(token)
stop
start jwt
jwt=$(token)

run() { # run NAME TOKEN
  TOKEN="$2" wrk -t2 -c64 -d10s --latency -s bench/bearer.lua "$base/api/resource" >"$work/$1.wrk"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.wrk")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.wrk")
  errors=$(grep -c 'Non-2xx' "$work/$1.wrk" || true)
  printf '%-22s %12s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "$errors"
  eval "rps_$1=$rps"
}
{
  echo "latchkey bench, $(date -u +%FT%TZ), $(nproc) cores, $(uname -m)"
  printf '%-22s %12s %10s %10s %8s\n' case req/s p50 p99 non2xx
  run opaque_bearer "$opaque"
  run jwt_bearer "$jwt"
  python3 -c "print(f'jwt/opaque throughput ratio: {$rps_jwt_bearer/$rps_opaque_bearer:.2f}')"
  echo "server RSS after the run: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
} | tee bench/results.txt
