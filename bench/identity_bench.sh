#!/usr/bin/env bash
# What verifying users' tokens costs the claim path (README "Who is the user"), in one run: the same
# ingress binary, four processes side by side, each claim a signed-in user's (wrk, bench/claim.lua):
#   off    ALLOT_BENCH_TRUST_BODY_USER=1: no verification, the body's user_id believed (the baseline)
#   HS256  the stack's secret;  RS256 / ES256  a made-up provider key in a JWKS file
# each with fresh tokens (every claim a new user: every token verified once) and with repeated ones
# (1,000 users coming back: the verified-token memory answers). Claims go to a topic no processor reads,
# so this measures the ingress alone; 202 still only after the broker's ack.
#   bench/identity_bench.sh [seconds=10] [connections=64]
# Needs the stack up (scripts/stack up) for the broker. wrk -t1 shares the machine's cores: say so.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs="${1:-10}"
conns="${2:-64}"
build="${ALLOT_BUILD_DIR:-$root/build}"
admin="${ALLOT_ADMIN_TOKEN:-$(cat .run/admin-token)}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

topic="allot.bench.identity-commands"
echo "{\"topics\":[{\"name\":\"$topic\",\"partitions\":12,\"replication_factor\":1,\"configs\":{}}]}" >"$work/topics.json"
"$build/topics/allotctl" topics apply --file "$work/topics.json" >/dev/null || true

echo "signing tokens..." >&2
fresh_hs=$(( secs * 40000 ))
"$build/bench/allot-bench-tokens" --alg HS256 --users "$fresh_hs" --prefix "h$RANDOM-" >"$work/hs-fresh"
head -n 1000 "$work/hs-fresh" >"$work/hs-again"
"$build/bench/allot-bench-tokens" --alg RS256 --users $(( secs * 6000 )) --prefix "r$RANDOM-" --jwks "$work/rs.json" >"$work/rs-fresh"
head -n 1000 "$work/rs-fresh" >"$work/rs-again"
"$build/bench/allot-bench-tokens" --alg ES256 --users $(( secs * 6000 )) --prefix "e$RANDOM-" --jwks "$work/es.json" >"$work/es-fresh"
head -n 1000 "$work/es-fresh" >"$work/es-again"

# One ingress per way of verifying, each on its own port: NAME PORT VAR=VALUE...
start_ingress() {
  local name="$1" port="$2"
  shift 2
  env -u ALLOT_JWT_HS256_SECRET -u ALLOT_JWT_HS256_SECRET_FILE -u ALLOT_JWT_JWKS_FILE \
    ALLOT_HTTP_PORT="$port" ALLOT_COMMANDS_TOPIC="$topic" ALLOT_RATE_PER_USER=0 ALLOT_TICK_MS=0 \
    ALLOT_ADMIN_TOKEN="$admin" ALLOT_STATIC_DIR="$root/ingress/web" "$@" \
    "$build/ingress/allot-ingress" >"$work/$name.log" 2>&1 &
  pids+=("$!")
}
start_ingress off 18181 ALLOT_BENCH_TRUST_BODY_USER=1
start_ingress hs 18182 ALLOT_JWT_HS256_SECRET_FILE="$root/.run/jwt-secret"
start_ingress rs 18183 ALLOT_JWT_JWKS_FILE="$work/rs.json"
start_ingress es 18184 ALLOT_JWT_JWKS_FILE="$work/es.json"
event="idbench-$(date +%s)"
for port in 18181 18182 18183 18184; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf -X POST "http://127.0.0.1:$port/api/events" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d "{\"event_id\":\"$event\",\"title\":\"bench\",\"stock\":1000}" >/dev/null
done

# "req/s p50 p99 non2xx" of one wrk run: PORT TOKENS_FILE
run() {
  local out
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s bench/claim.lua "http://127.0.0.1:$1/api/events/$event/claims" -- "$2")
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out") $(awk '/Non-2xx/ {print $NF}' <<<"$out")"
}

echo "claim path, $(nproc) cores, wrk -t1 -c$conns -d${secs}s on the same machine; each ingress alone while measured"
echo "| verification | tokens | claims/s | p50 | p99 | non-2xx | vs off |"
echo "|---|---|---:|---:|---:|---:|---:|"
read -r base p50 p99 bad < <(run 18181 "$work/hs-fresh")
echo "| off (body user_id) | - | $base | $p50 | $p99 | ${bad:-0} | 1.00 |"
for row in "HS256 hs 18182" "RS256 rs 18183" "ES256 es 18184"; do
  read -r label name port <<<"$row"
  for kind in fresh again; do
    read -r rps p50 p99 bad < <(run "$port" "$work/$name-$kind")
    ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
    echo "| $label | $([ "$kind" = fresh ] && echo "fresh (each verified once)" || echo "1,000 users again (remembered)") | $rps | $p50 | $p99 | ${bad:-0} | $ratio |"
  done
done
read -r again p50 p99 bad < <(run 18181 "$work/hs-fresh")
echo "| off, again at the end | - | $again | $p50 | $p99 | ${bad:-0} | $(awk -v a="$again" -v b="$base" 'BEGIN {printf "%.2f", a / b}') |"
