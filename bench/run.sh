#!/usr/bin/env bash
# latchkey's benchmark harness. Every case runs in one invocation against
# release builds on loopback, so the ratios it reports (against the ceiling,
# against t_hash, idle against loaded) are measured under the same machine
# conditions; absolute numbers on a shared machine are noise. Never run by CI.
#
#   bash bench/run.sh              # every case, about 10 minutes; table in bench/results.txt
#   bash bench/run.sh 1 5 mem      # a subset: cases 1..7, mem (memory), profile
#   bash bench/run.sh profile      # instructions per request, latchkey and the ceiling (callgrind)
#
# Fixed settings (wrk from Debian, Lua scripts in bench/):
#   token cases (1, 2, 5 reads, 7):  wrk -t2 -c64 -d10s; the ceiling and
#     cases 1 and 2 alternate over 5 rounds and their medians are compared
#   hash-bound cases (3, 4, 5 logins): wrk -t2 -c8 -d15s (the pool is one hash
#     per CPU; 8 connections keep it saturated without requests reaching the
#     10 s queue timeout)
#   revocations (6): after a 3 s warm-up, wrk -t1 -c1 -d5s against wrk -t2
#     -c64 -d5s; then the same on a copy of the store without HTTP
#     (examples/revoke_store), the store's own bound on the ratio
# Scrypt runs at the server's defaults (log_n=15, r=8, p=3); the IP and
# registration buckets are opened wide so they measure nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(1 2 3 4 5 6 7 mem)
want() { local c; for c in "${cases[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

cargo build --release --locked -q --bins --examples
bin=$root/target/release/latchkey
ex=$root/target/release/examples
# The work dir is on the same disk as the repo (not a tmpfs): fsync must cost
# what it costs in production, or group commit shows nothing.
mkdir -p target/bench
work=$(mktemp -d "$root/target/bench/run.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export LATCHKEY_THROTTLE__IP_PER_MINUTE=100000000 LATCHKEY_THROTTLE__IP_BURST=100000000
export LATCHKEY_THROTTLE__REGISTER_PER_MINUTE=100000000 LATCHKEY_THROTTLE__REGISTER_BURST=100000000
export NO_COLOR=1
# Logging as shipped: RUST_LOG unset, so info with the access log on, the
# log going to a file ($work/NAME.log) as a service manager would keep it.
# Case 1 also runs with the access log off ([log] access = false) and in
# JSON, beside the as-shipped row; every target is read from that row.
unset RUST_LOG
PASSWORD='bench correct horse'

# ---------------------------------------------------------------- helpers
# start NAME CMD...: runs a server from $work (so no config.toml is read),
# sets $pid and $base once it prints its address.
start() {
  local name=$1; shift
  : >"$work/$name.log"
  (cd "$work" && exec "$@" >/dev/null 2>"$work/$name.log") &
  pid=$!
  pids+=("$pid")
  base=
  for _ in $(seq 600); do
    base=$(grep -o 'http://[0-9.:]*' "$work/$name.log" | head -1 || true)
    [ -n "$base" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}
thread_cpu() { # thread_cpu PID: "name ticks" per thread name (user+system), summed
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
  done | awk '{sub(/-[0-9]+$/, "-N", $1); a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
serve() { # serve NAME DATA_DIR [ENV=VALUE...]
  local name=$1 dir=$2; shift 2
  start "$name" env "$@" "$bin" --listen 127.0.0.1:0 --data-dir "$dir"
}
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { python3 -c "print(f'{$1/1024:.1f}')"; }
ms() { # wrk duration (850.00us, 1.53ms, 2.10s, 1.2m) in ms
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000 }
    else { sub(/s$/, "", v); print v * 1000 } }'
}
calc() { python3 -c "print($1)"; }

declare -A RPS P50 P99 BAD RSS HWM CPU
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# wrkrun NAME URL WRK-ARGS...: runs wrk, records req/s (2xx only), p50, p99
# (ms), non-2xx count, the server's CPU time per request (us, user+system,
# every thread) and its RSS and peak after the run.
wrkrun() {
  local name=$1 url=$2; shift 2
  local ticks; ticks=$(cpu_ticks "$pid")
  wrk --latency "$@" "$url" >"$work/$name.wrk" 2>&1
  ticks=$(( $(cpu_ticks "$pid") - ticks ))
  local reqs secs bad
  reqs=$(awk '/requests in/ {print $1}' "$work/$name.wrk")
  secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$work/$name.wrk")
  bad=$(awk '/Non-2xx/ {print $NF}' "$work/$name.wrk")
  bad=${bad:-0}
  BAD[$name]=$bad
  RPS[$name]=$(calc "round(($reqs - $bad) / $secs, 1)")
  CPU[$name]=$(calc "round($ticks / $(getconf CLK_TCK) / $reqs * 1e6, 1)")
  P50[$name]=$(ms "$(awk '$1 == "50%" {print $2}' "$work/$name.wrk")")
  P99[$name]=$(ms "$(awk '$1 == "99%" {print $2}' "$work/$name.wrk")")
  RSS[$name]=$(kib "$pid" VmRSS)
  HWM[$name]=$(kib "$pid" VmHWM)
}

rows=()
row() { # row NAME [RATIO-TEXT] [VERDICT]
  local n=$1
  rows+=("$(printf '%-24s %10s %9s %9s %7s %7s %8s %8s  %s %s' "$n" "${RPS[$n]}" \
    "${P50[$n]}" "${P99[$n]}" "${BAD[$n]}" "${CPU[$n]}" "$(mib "${RSS[$n]}")" "$(mib "${HWM[$n]}")" \
    "${2:-}" "${3:-}")")
}
notes=()
note() { notes+=("$*"); }
verdict() { python3 -c "print('PASS' if $1 else 'MISS')"; }
ratio() { calc "f'{$1 / $2:.2f}'"; }

fast=(-t2 -c64 -d10s)
slow=(-t2 -c8 -d15s --timeout 30s)

# A store of 1,000 users with one token each: the token cases run on it.
seed() { # seed DIR USERS TOKENS [OUT COUNT]
  (cd "$work" && "$ex/seed" --data-dir "$1" --users "$2" --tokens "$3" \
    ${4:+--tokens-out "$4" --tokens-out-count "$5"}) | tee -a "$work/seed.out"
}
token1=$(cd "$work" && "$ex/seed" --data-dir "$work/small" --users 1000 --tokens 1000 \
  --tokens-out "$work/small.tokens" --tokens-out-count 1 >/dev/null && head -1 "$work/small.tokens")

# Basic credentials of user1..user100 for the login cases.
for i in $(seq 100); do printf 'user%d:%s' "$i" "$PASSWORD" | base64 -w0; echo; done >"$work/credentials"

# ------------------------------------------------------------------ cases
# median NAME: sets NAME's numbers to the median-throughput round of
# NAME.1..NAME.$rounds (p50, p99, CPU and RSS come from that same round).
rounds=5
median() {
  local n=$1 pick
  pick=$(for i in $(seq "$rounds"); do echo "${RPS[$n.$i]} $i"; done | sort -n | awk -v m=$(( (rounds + 1) / 2 )) 'NR == m {print $2}')
  RPS[$n]=${RPS[$n.$pick]} P50[$n]=${P50[$n.$pick]} P99[$n]=${P99[$n.$pick]}
  BAD[$n]=${BAD[$n.$pick]} RSS[$n]=${RSS[$n.$pick]} HWM[$n]=${HWM[$n.$pick]}
  CPU[$n]=${CPU[$n.$pick]}
  note "$n: $(for i in $(seq "$rounds"); do printf '%s ' "${RPS[$n.$i]}"; done)req/s, $(for i in $(seq "$rounds"); do printf '%s ' "${CPU[$n.$i]}"; done)us of server CPU per request over $rounds rounds; the median-throughput round taken"
}

# The ceiling and the three token cases, alternated over $rounds rounds, so
# drift on a shared machine (which moves 10 s runs by 20% or more) hits all
# of them alike; each ratio is between medians. Measured once per
# invocation, for whichever of cases 1, 2, 5 and 7 needs it first.
token_cases() {
  [ -n "${RPS[ceiling]:-}" ] && return 0
  # A signed token, issued once: the signing key lives in the store.
  serve latchkey "$work/small" LATCHKEY_TOKENS__FORMAT=jwt
  local jwt basic
  jwt=$(curl -sf -X POST -u "user1:$PASSWORD" "$base/api/tokens" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  stop
  basic=$(printf '%s:' "$token1" | base64 -w0)
  for i in $(seq "$rounds"); do
    start ceiling "$ex/ceiling" --listen 127.0.0.1:0 --data-dir "$work/ceiling" --token "$token1"
    AUTHORIZATION="Bearer $token1" wrkrun "ceiling.$i" "$base/api/resource" "${fast[@]}" -s bench/header.lua
    stop
    serve latchkey "$work/small"
    [ "$i" = 1 ] && idle_rss=$(kib "$pid" VmRSS)
    AUTHORIZATION="Bearer $token1" wrkrun "opaque_bearer.$i" "$base/api/resource" "${fast[@]}" -s bench/header.lua
    AUTHORIZATION="Basic $basic" wrkrun "basic_token.$i" "$base/api/resource" "${fast[@]}" -s bench/header.lua
    stop
    # What the as-shipped log holds after two 10 s runs: one line per
    # request, and a warning for any line its writer had to drop.
    shipped_log="$(wc -l <"$work/latchkey.log") lines, $(du -m "$work/latchkey.log" | cut -f1) MiB, $(grep -c 'log lines were dropped' "$work/latchkey.log" || true) reports of dropped lines"
    serve latchkey "$work/small" LATCHKEY_LOG__ACCESS=false
    AUTHORIZATION="Bearer $token1" wrkrun "opaque_log_off.$i" "$base/api/resource" "${fast[@]}" -s bench/header.lua
    stop
    serve latchkey "$work/small" LATCHKEY_LOG__FORMAT=json
    AUTHORIZATION="Bearer $token1" wrkrun "opaque_json_log.$i" "$base/api/resource" "${fast[@]}" -s bench/header.lua
    stop
    serve latchkey "$work/small" LATCHKEY_TOKENS__FORMAT=jwt
    AUTHORIZATION="Bearer $jwt" wrkrun "jwt_bearer.$i" "$base/api/resource" "${fast[@]}" -s bench/header.lua
    stop
  done
  local n; for n in ceiling opaque_bearer basic_token jwt_bearer opaque_log_off opaque_json_log; do median "$n"; done
  row ceiling "(warp + one sled get)"
}

token_row() { # token_row NAME: NAME's median against the ceiling's
  local r; r=$(ratio "${RPS[$1]}" "${RPS[ceiling]}")
  row "$1" "${r}x ceiling (>=0.8)" "$(verdict "$r >= 0.8")"
}

case1() { # also the idle reference for cases 5 and 7: its row once
  [ -n "${case1_done:-}" ] && return 0
  case1_done=1
  token_cases
  local r; r=$(ratio "${RPS[opaque_bearer]}" "${RPS[ceiling]}")
  row opaque_bearer "${r}x ceiling (>=0.85, as shipped)" "$(verdict "$r >= 0.85")"
  r=$(ratio "${RPS[opaque_bearer]}" "${RPS[opaque_log_off]}")
  row opaque_log_off "as shipped ${r}x this (>=0.9)" "$(verdict "$r >= 0.9")"
  r=$(ratio "${RPS[opaque_json_log]}" "${RPS[ceiling]}")
  row opaque_json_log "${r}x ceiling (log.format = json; a reference)"
  note "case 1: the as-shipped log after its last round (opaque + Basic, 2 x 10 s): $shipped_log"
}

case2() {
  token_cases
  token_row basic_token
  token_row jwt_bearer
}

thash() {
  [ -n "${hash_target:-}" ] && return 0
  local out; out=$(cd "$work" && "$ex/t_hash" 10)
  t_hash=$(awk '{print $2}' <<<"$out")
  pool=$(awk '{for (i = 1; i < NF; i++) if ($i == "pool") print $(i + 1)}' <<<"$out")
  hash_mem=$(awk '{print $NF == "bytes" ? $(NF - 1) : ""}' <<<"$out")
  hash_target=$(calc "round($pool / $t_hash, 2)")
  note "t_hash: $out; hash-bound target: 0.9 x $pool / $t_hash = $(calc "round(0.9 * $hash_target, 2)") req/s"
}

case3() {
  [ -n "${RPS[login]:-}" ] && return 0
  thash
  serve latchkey "$work/small"
  CREDENTIALS=$work/credentials wrkrun login "$base/api/tokens" "${slow[@]}" -s bench/login.lua
  stop
  local r; r=$(ratio "${RPS[login]}" "$hash_target")
  row login "${r}x pool/t_hash (>=0.9)" "$(verdict "$r >= 0.9")"
}

case4() {
  thash
  serve latchkey "$work/small"
  RUN=$RANDOM wrkrun register "$base" "${slow[@]}" -s bench/register.lua
  stop
  local r; r=$(ratio "${RPS[register]}" "$hash_target")
  row register "${r}x pool/t_hash (>=0.9)" "$(verdict "$r >= 0.9")"
}

case5() {
  case1
  case3
  serve latchkey "$work/small"
  local idle; idle=$(kib "$pid" VmRSS)
  # Logins first, so the pool is saturated for the whole read run.
  CREDENTIALS=$work/credentials wrk --latency -t2 -c8 -d14s --timeout 30s -s bench/login.lua \
    "$base/api/tokens" >"$work/storm_logins.wrk" 2>&1 &
  local storm=$!
  sleep 2
  AUTHORIZATION="Bearer $token1" wrkrun storm_reads "$base/api/resource" "${fast[@]}" -s bench/header.lua
  wait "$storm"
  HWM[storm_reads]=$(kib "$pid" VmHWM)
  stop
  local r p; r=$(ratio "${RPS[storm_reads]}" "${RPS[opaque_bearer]}")
  p=$(ratio "${P99[storm_reads]}" "${P99[opaque_bearer]}")
  row storm_reads "${r}x idle (>=0.6), p99 ${p}x idle (<=5)" \
    "$(verdict "$r >= 0.6 and $p <= 5")"
  local logins; logins=$(awk '/Requests\/sec/ {print $2}' "$work/storm_logins.wrk")
  note "case 5: logins during the storm: $logins req/s (idle $(calc "${RPS[login]}"))"
  local limit; limit=$(calc "$idle + $pool * $hash_mem / 1024 + 16 * 1024")
  note "memory: case 5 peak VmHWM $(mib "${HWM[storm_reads]}") MiB, limit idle $(mib "$idle") + $pool x $(calc "$hash_mem // 1048576") MiB + 16 MiB = $(mib "$limit") MiB: $(verdict "${HWM[storm_reads]} <= $limit")"
}

case6() {
  # 200,000 tokens spread over 100 users; a warm-up takes the first 20,000,
  # the single client the next 20,000, the 64 clients the rest. DELETE
  # /api/tokens revokes the token the request carries, so every request
  # revokes one token.
  seed "$work/revoke" 100 200000 "$work/revoke.tokens" 200000 >/dev/null
  cp -a "$work/revoke" "$work/revoke-store"
  # Written back now, not by the fsyncs of the runs below.
  sync
  head -20000 "$work/revoke.tokens" >"$work/revoke0.tokens"
  sed -n 20001,40000p "$work/revoke.tokens" >"$work/revoke1.tokens"
  tail -n +40001 "$work/revoke.tokens" >"$work/revoke64.tokens"
  serve latchkey "$work/revoke"
  # Not measured: the start-up hash and sled's first reads of a fresh store
  # cost the server CPU for its first seconds, and once cut the one-client
  # rate (the ratio's baseline) by half in a run where nothing else did.
  TOKENS=$work/revoke0.tokens THREADS=1 METHOD=DELETE URLPATH=/api/tokens \
    wrk -t1 -c1 -d3s -s bench/tokens.lua "$base" >/dev/null
  TOKENS=$work/revoke1.tokens THREADS=1 METHOD=DELETE URLPATH=/api/tokens \
    wrkrun revoke_1_client "$base" -t1 -c1 -d5s -s bench/tokens.lua
  local before; before=$(thread_cpu "$pid")
  TOKENS=$work/revoke64.tokens THREADS=2 METHOD=DELETE URLPATH=/api/tokens \
    wrkrun revoke_64_clients "$base" -t2 -c64 -d5s -s bench/tokens.lua
  local after; after=$(thread_cpu "$pid")
  stop
  local reqs; reqs=$(awk '/requests in/ {print $1}' "$work/revoke_64_clients.wrk")
  note "case 6: server CPU per revocation by thread, 64 clients:$(join -a2 -e0 -o 0,1.2,2.2 <(echo "$before") <(echo "$after") |
    awk -v n="$reqs" -v hz="$(getconf CLK_TCK)" '$3 > $2 {printf " %s %.1f us;", $1, ($3 - $2) / hz / n * 1e6}')"
  row revoke_1_client
  local r; r=$(ratio "${RPS[revoke_64_clients]}" "${RPS[revoke_1_client]}")
  row revoke_64_clients "${r}x 1 client (>=10)" "$(verdict "$r >= 10")"
  # The same revocations straight to the store, on the untouched copy: what
  # sled and the group commit allow before HTTP adds its share.
  local store_only
  store_only=$(cd "$work" && "$ex/revoke_store" --data-dir "$work/revoke-store" --tokens "$work/revoke.tokens" --clients 64 --seconds 5)
  note "case 6: $store_only"
  rm -rf "$work/revoke-store"
}

readyz_time() { # serve the store in $1; sets $ready: process start to /readyz 200
  local t0 t1
  t0=$(date +%s.%N)
  start latchkey "$bin" --listen 127.0.0.1:0 --data-dir "$1"
  until curl -sf -o /dev/null "$base/readyz"; do sleep 0.01; done
  t1=$(date +%s.%N)
  ready=$(calc "round($t1 - $t0, 2)")
}

case7() {
  case1
  local t0 t1
  t0=$(date +%s.%N)
  seed "$work/big" 1000000 1000000 "$work/big.tokens" 1 >/dev/null
  t1=$(date +%s.%N)
  local raw; raw=$(tail -1 "$work/seed.out" | awk '{print $NF}')
  local du; du=$(du -sb "$work/big" | awk '{print $1}')
  note "case 7: seeded 1,000,000 users + 1,000,000 tokens in $(calc "round($t1 - $t0, 1)") s; on disk $(calc "round($du / 1048576, 1)") MiB (du -sb) vs $(calc "round($raw / 1048576, 1)") MiB of raw keys+values ($(ratio "$du" "$raw")x)"
  local check
  t0=$(date +%s.%N)
  check=$(cd "$work" && "$bin" --data-dir "$work/big" check 2>&1 | tr '\n' ' ')
  t1=$(date +%s.%N)
  note "case 7: latchkey check ($(calc "round($t1 - $t0, 1)") s): $check"
  readyz_time "$work/big"
  note "case 7: start-up to /readyz 200 on the 1M store: $ready s (<=2): $(verdict "$ready <= 2")"
  AUTHORIZATION="Bearer $token1" wrkrun scale_1m_bearer "$base/api/resource" "${fast[@]}" -s bench/header.lua
  stop
  local r; r=$(ratio "${RPS[scale_1m_bearer]}" "${RPS[opaque_bearer]}")
  row scale_1m_bearer "${r}x 1k store (>=0.8)" "$(verdict "$r >= 0.8")"
}

casemem() {
  serve latchkey "$work/empty"
  sleep 1
  local idle; idle=$(kib "$pid" VmRSS)
  stop
  note "memory: idle RSS, empty store: $(mib "$idle") MiB (<=16): $(verdict "$idle <= 16 * 1024")"
  seed "$work/mid" 100000 100000 "$work/mid.tokens" 100000 >/dev/null
  serve latchkey "$work/mid"
  # Random tokens of the 100k, so the lookups walk the whole store.
  TOKENS=$work/mid.tokens THREADS=2 PICK=random \
    wrkrun mem_100k_random "$base" -t2 -c64 -d5s -s bench/tokens.lua
  stop
  row mem_100k_random "(random tokens of 100k)"
  local limit=$(( (64 + 64) * 1024 ))
  note "memory: 100k users + 100k tokens under load: RSS $(mib "${RSS[mem_100k_random]}") MiB, peak $(mib "${HWM[mem_100k_random]}") MiB (<=64 + cache 64): $(verdict "${HWM[mem_100k_random]} <= $limit")"
}

# Instructions per token-checked request, counted by callgrind: unlike
# req/s, the count is the same from one run to the next whatever else the
# machine does, so it shows what a change to the request path saves. The
# ceiling and latchkey run the same wrk load on unstripped release builds
# (in target/profile); counters are zeroed after a warm-up, so start-up and
# the dummy hash are left out. Not part of the default run.
profile() {
  command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release --locked -q --bin latchkey --example ceiling --target-dir target/profile
  local pbin=$root/target/profile/release name ir served
  declare -A IR
  for name in ceiling latchkey; do
    if [ "$name" = ceiling ]; then
      start ceiling valgrind --tool=callgrind --callgrind-out-file="$work/$name.cg" \
        "$pbin/examples/ceiling" --listen 127.0.0.1:0 --data-dir "$work/ceiling-data" --token lk_ceiling
      export AUTHORIZATION="Bearer lk_ceiling"
    else
      start latchkey env LATCHKEY_PASSWORD__SCRYPT_LOG_N=10 valgrind --tool=callgrind \
        --callgrind-out-file="$work/$name.cg" "$pbin/latchkey" --listen 127.0.0.1:0 --data-dir "$work/small"
      export AUTHORIZATION="Bearer $token1"
    fi
    wrk -t1 -c8 -d3s -s bench/header.lua "$base/api/resource" >/dev/null
    callgrind_control -z "$pid" >/dev/null
    wrk -t1 -c8 -d15s -s bench/header.lua "$base/api/resource" >"$work/$name.cg.wrk"
    callgrind_control -d "$pid" >/dev/null
    stop
    served=$(awk '/requests in/ {print $1}' "$work/$name.cg.wrk")
    ir=$(awk '/^summary:/ {print $2}' "$work/$name.cg.1")
    IR[$name]=$(( ir / served ))
    cp "$work/$name.cg.1" "target/bench/$name.callgrind.out"
  done
  unset AUTHORIZATION
  {
    echo "callgrind, GET /api/resource under wrk -t1 -c8 -d15s after a 3 s warm-up, git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples || echo +dirty)"
    echo "instructions per request: ceiling ${IR[ceiling]}, latchkey ${IR[latchkey]} ($(ratio "${IR[latchkey]}" "${IR[ceiling]}")x the ceiling's)"
    echo "latchkey's functions by their own instructions per request (sha256 runs in software under valgrind; natively it uses SHA-NI):"
    python3 bench/callgrind_self.py target/bench/latchkey.callgrind.out "$served" 30
  } | tee bench/profile.txt
  note "profile: ${IR[latchkey]} instructions per GET /api/resource against the ceiling's ${IR[ceiling]} (bench/profile.txt)"
}

# ------------------------------------------------------------------ run
started=$(date -u +%FT%TZ)
load=$(cut -d' ' -f1-3 /proc/loadavg)
for c in "${cases[@]}"; do
  case $c in
    1) case1 ;;
    2) case2 ;;
    3) case3 ;;
    4) case4 ;;
    5) case5 ;;
    6) case6 ;;
    7) case7 ;;
    mem) casemem ;;
    profile) profile ;;
    *) echo "unknown case $c (1..7, mem, profile)" >&2; exit 2 ;;
  esac
done
want 1 || want 5 || want 7 && note "memory: RSS right after start, 1k-user store: $(mib "$idle_rss") MiB"

# A profile-only run has its own file (bench/profile.txt): keep the table.
[ ${#rows[@]} -gt 0 ] || exit 0
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
  echo "latchkey bench, $started, $(nproc) x $cpu, $(uname -m)"
  echo "git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples benches bench/run.sh bench/*.lua || echo '+dirty'); load average at start $load"
  echo "reproduce: bash bench/run.sh ${cases[*]}"
  echo "settings: token cases wrk -t2 -c64 -d10s (ceiling, 1 and 2: median of $rounds alternated rounds); hash-bound wrk -t2 -c8 -d15s; revocations -t1 -c1 / -t2 -c64 -d5s after a 3 s unmeasured warm-up; p50/p99 in ms, cpu_us: server CPU per request, RSS/peak in MiB after the case"
  printf '%-24s %10s %9s %9s %7s %7s %8s %8s  %s\n' case 'req/s' p50 p99 non2xx cpu_us RSS peak 'ratio, target'
  printf '%s\n' "${rows[@]}"
  [ ${#notes[@]} -gt 0 ] && printf '%s\n' "${notes[@]}"
} | tee bench/results.txt
