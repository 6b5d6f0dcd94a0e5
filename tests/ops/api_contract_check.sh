#!/usr/bin/env bash
# The OpenAPI description (ingress/openapi.yaml) kept true against the live ingress by schemathesis
# (installed by scripts/setup into ~/.cache/allot/venv): positive and negative data, every check:
# no 5xx, every answer conforms to the description, schema-violating requests get 4xx.
# Excluded, with reason: `unsupported_method` — a method Pistache's HTTP parser does not know at all
# (e.g. QUERY) gets a JSON 400 unknown_method from below the routes (ingress/parse_errors.h), not the 405
# with Allow the check expects; every
# standard method our routes do not serve gets a JSON 405 with Allow, which
# tests/integration/pipeline_test.cc checks.
# Not run: the stateful phase, which expects a resource to be readable right after its POST; here a POST
# is a command answered 202 once Kafka has it, and the event is readable once processed and projected.
# The request timeout sits above the long poll's cap (wait_ms <= 30000): such a request may rightly
# take that long when no decision comes.
# Valid tokens (README "Who is the user"): the admin token on every operation, except the user endpoints
# (claims, queue joins, confirm/cancel, orders, reading a claim, a place or an order), which get a
# signed-in user's token, signed with the stack's JWT secret (scripts/components.py tokens). Both reach schemathesis by environment
# through a temporary config file that names them, never on a command line.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
st="${ALLOT_VENV:-$HOME/.cache/allot/venv}/bin/schemathesis"
port="${ALLOT_HTTP_PORT:-8080}"
token="${ALLOT_ADMIN_TOKEN:-$(cat "${ALLOT_RUN_DIR:-$root/.run}/admin-token")}"
[ -x "$st" ] || { echo "schemathesis is not installed (run scripts/setup)" >&2; exit 1; }
read -r _ user_token < <(python3 "$root/scripts/components.py" tokens contract-user 1)
[ -n "$user_token" ] || { echo "no user token (no JWT secret: scripts/stack up writes one)" >&2; exit 1; }
config="$(mktemp)"
trap 'rm -f "$config"' EXIT
cat >"$config" <<'TOML'
headers = { Authorization = "Bearer ${ALLOT_CONTRACT_ADMIN_TOKEN}" }

[[operations]]
include-path-regex = '^/api/(v[12]/)?events/[^/]+/(claims|queue)$|^/api/(claims|queue)/|^/api/orders(/|$)'
headers = { Authorization = "Bearer ${ALLOT_CONTRACT_USER_TOKEN}" }
TOML
ALLOT_CONTRACT_ADMIN_TOKEN="$token" ALLOT_CONTRACT_USER_TOKEN="$user_token" \
  "$st" --config-file "$config" run "$root/ingress/openapi.yaml" --url "http://127.0.0.1:$port" --mode all \
  --checks all --phases examples,coverage,fuzzing --exclude-checks unsupported_method --max-examples 40 --seed 1 \
  --request-timeout 40 --no-color
