#!/usr/bin/env bash
# Fuzzes the running server against its own OpenAPI document with
# schemathesis: no 5xx, and no status, content type, header or body that the
# document does not describe. Called by .ci/run after `cargo test`, with the
# debug binary that `cargo test` built.
#
# Usage: tests/schemathesis.sh [path/to/latchkey]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/debug/latchkey}"
dir="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
password="schemathesis-admin-password"

# Cheap hashes, and brute-force limits out of reach: this run checks the
# API's shapes, not the throttle (tests/api/throttle.rs does that), and a
# fuzzer's wrong credentials would otherwise turn every answer into a 429.
export LATCHKEY_PASSWORD__SCRYPT_LOG_N=4
export LATCHKEY_THROTTLE__IP_PER_MINUTE=1000000
export LATCHKEY_THROTTLE__IP_BURST=1000000
export LATCHKEY_THROTTLE__ACCOUNT_FAILURES=1000000
# Every documented route live, /metrics included.
export LATCHKEY_METRICS__ENABLED=true

echo "$password" | "$bin" --data-dir "$dir/data" user add root --admin >/dev/null
"$bin" --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>"$dir/server.log" &
server_pid=$!
for _ in $(seq 100); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

# Basic rather than a token: a token would be revoked by the first
# DELETE /api/tokens the fuzzer sends, and every later case would be a 401.
status=0
schemathesis --config-file tests/schemathesis.toml run "$base/api/openapi.json" \
    --auth "root:$password" \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
    --workers 1 \
    --seed 1 \
    --no-color || status=$?

if grep -n "panicked" "$dir/server.log"; then
    echo "the server panicked; its log is above" >&2
    status=1
fi
if [[ $status != 0 ]]; then
    echo "--- server log (last 40 lines)" >&2
    tail -n 40 "$dir/server.log" >&2
fi
exit "$status"
