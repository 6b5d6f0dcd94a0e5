#!/usr/bin/env bash
# What verifying users' tokens costs the claim path (README "Who is the user"), in one run: the same
# ingress binary, four processes side by side, each claim a signed-in user's (wrk, bench/claim.lua):
#   off    ALLOT_BENCH_TRUST_BODY_USER=1: no verification, the body's user_id believed (the baseline)
#   HS256  the stack's secret;  RS256 / ES256  a made-up provider key in a JWKS file
# each with fresh tokens (every claim a new user: every token verified once) and with repeated ones
# (1,000 users coming back: the verified-token memory answers). Fresh RS/ES tokens: 4,000 per second of a
# run; past them a run wraps round to remembered ones (the table's claims/s stay well below that). Claims go to a topic no processor reads,
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

rounds="${ALLOT_BENCH_ROUNDS:-3}"
# Fresh tokens are fresh in every round: each round has its own users (a token seen in an earlier round
# would be remembered). HS256 signs fast; RS/ES signing (libjwt reads the PEM each time) takes a minute.
echo "signing tokens..." >&2
for ((r = 1; r <= rounds; r++)); do
  "$build/bench/allot-bench-tokens" --alg HS256 --users $(( secs * 40000 )) --prefix "h$r-$RANDOM-" >"$work/hs-fresh-$r"
  "$build/bench/allot-bench-tokens" --alg HS256 --users 1000 --prefix "ha$r-$RANDOM-" >"$work/hs-again-$r"
done
for alg in RS256 ES256; do
  name="${alg:0:2}"; name="${name,,}"
  "$build/bench/allot-bench-tokens" --alg "$alg" --users $(( secs * 4000 * rounds + 1000 )) --prefix "$name$RANDOM-" \
    --jwks "$work/$name.json" >"$work/$name-all"
  head -n 1000 "$work/$name-all" >"$work/$name-again"
  for ((r = 1; r <= rounds; r++)); do
    tail -n +1001 "$work/$name-all" | sed -n "$(( (r - 1) * secs * 4000 + 1 )),$(( r * secs * 4000 ))p" >"$work/$name-fresh-$r"
  done
  for ((r = 1; r <= rounds; r++)); do cp "$work/$name-again" "$work/$name-again-$r"; done
done

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

# Every configuration once per round, rounds in turn (the machine drifts over minutes: the broker's log
# grows, caches warm); each row is the round with the median claims/s.
configs=("off 18181 hs-fresh" "HS256 18182 hs-fresh" "HS256 18182 hs-again" "RS256 18183 rs-fresh"
         "RS256 18183 rs-again" "ES256 18184 es-fresh" "ES256 18184 es-again")
for ((r = 1; r <= rounds; r++)); do
  for i in "${!configs[@]}"; do
    read -r _ port file <<<"${configs[$i]}"
    echo "$i $(run "$port" "$work/$file-$r")" >>"$work/results"
  done
done
median_row() {  # "rps p50 p99 non2xx" of config $1's median round
  awk -v i="$1" '$1 == i {print $2, $3, $4, ($5 == "" ? 0 : $5)}' "$work/results" | sort -n | awk '{r[NR] = $0} END {print r[int((NR + 1) / 2)]}'
}
read -r base _ <<<"$(median_row 0)"
echo "claim path, $(nproc) cores, wrk -t1 -c$conns -d${secs}s on the same machine; each ingress alone while measured;"
echo "median of $rounds rounds (all rounds: claims/s per configuration below the table)"
echo "| verification | tokens | claims/s | p50 | p99 | non-2xx | vs off |"
echo "|---|---|---:|---:|---:|---:|---:|"
for i in "${!configs[@]}"; do
  read -r label _ file <<<"${configs[$i]}"
  read -r rps p50 p99 bad <<<"$(median_row "$i")"
  case "$file" in
    *fresh) kind="fresh (each verified once)" ;;
    *) kind="1,000 users again (remembered)" ;;
  esac
  [ "$label" = off ] && kind="- (body user_id)"
  echo "| $label | $kind | $rps | $p50 | $p99 | $bad | $(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}') |"
done
for i in "${!configs[@]}"; do
  echo "${configs[$i]%% *} ${configs[$i]##* }: $(awk -v i="$i" '$1 == i {printf "%s ", $2}' "$work/results")"
done
