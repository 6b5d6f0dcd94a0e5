#!/usr/bin/env bash
# Ingress throughput and latency: accepted claims (202 only after the broker's ack) next to the same
# server answering a no-op endpoint (/healthz), in one run, with wrk on loopback.
#   bench/ingress_bench.sh [seconds=10] [connections=64]
# Needs the stack up (scripts/stack up). wrk takes one of the machine's cores: say so with the figures.
# Every claim is a signed-in user's: ALLOT_BENCH_USERS (100000) users' tokens are signed with the stack's
# secret before wrk starts (into a temporary file bench/claim.lua reads; removed on exit), one per claim
# until they run out, then again from the first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs="${1:-10}"
conns="${2:-64}"
port="${ALLOT_HTTP_PORT:-8080}"
token="${ALLOT_ADMIN_TOKEN:-$(cat .run/admin-token)}"
event="bench-$(date +%s)"
users="${ALLOT_BENCH_USERS:-100000}"
tokens="$(mktemp)"
trap 'rm -f "$tokens"' EXIT
python3 scripts/components.py tokens w "$users" >"$tokens"

curl -sf -X POST "http://127.0.0.1:$port/api/events" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d "{\"event_id\":\"$event\",\"title\":\"bench\",\"stock\":1000}" >/dev/null

# wrk's summary -> "req/s p50 p90 p99 non2xx"
run_wrk() {
  local out
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$@")
  local rps p50 p90 p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p90=$(awk '$1=="90%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $p50 $p90 $p99 ${bad:-0}"
}

read -r noop_rps noop_p50 noop_p90 noop_p99 noop_bad < <(run_wrk "http://127.0.0.1:$port/healthz")
read -r claim_rps claim_p50 claim_p90 claim_p99 claim_bad < <(run_wrk -s bench/claim.lua \
  "http://127.0.0.1:$port/api/events/$event/claims" -- "$tokens")

echo "ingress on $(nproc) cores, wrk -t1 -c$conns -d${secs}s on the same machine"
echo "| endpoint | req/s | p50 | p90 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| GET /healthz (no-op) | $noop_rps | $noop_p50 | $noop_p90 | $noop_p99 | $noop_bad |"
echo "| POST claims (202 after broker ack) | $claim_rps | $claim_p50 | $claim_p90 | $claim_p99 | $claim_bad |"
awk -v a="$claim_rps" -v b="$noop_rps" 'BEGIN {printf "claims/no-op throughput ratio: %.2f\n", a / b}'
