#!/usr/bin/env bash
# Checks openapi.yaml against the real server: starts `paylinks serve` (the debug binary the
# test suite builds) on a free loopback port with a throwaway data directory and fixed demo
# merchant keys, creates a link and opens a checkout session so path parameters can name real
# ones, then runs schemathesis (pinned, from PyPI) with every check. Any failure — a 5xx, a
# status, content type, header or body the spec does not describe, a wrong method answer —
# exits non-zero with a curl line that reproduces it.
#
#   scripts/api-contract.sh                      # ~2-3 minutes on 2 cores
#   CONTRACT_MAX_EXAMPLES=200 scripts/api-contract.sh   # longer, deeper run
#
# schemathesis lives in its own virtualenv outside the work tree ($PAYLINKS_CONTRACT_VENV,
# default ~/.cache/paylinks/contract-venv), beside scripts/tools.sh's: installing it into that
# one would let pip move aws-sam-cli's dependencies under it. Reinstalled only when the pin changes.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_PIN=schemathesis==4.32.5
MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-40}
SEED=${CONTRACT_SEED:-$RANDOM}
BIN=${PAYLINKS_BIN:-${CARGO_TARGET_DIR:-target}/debug/paylinks}

venv="${PAYLINKS_CONTRACT_VENV:-$HOME/.cache/paylinks/contract-venv}"
if [ ! -x "$venv/bin/python" ]; then
    echo "api-contract.sh: creating virtualenv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
fi
if [ "$(cat "$venv/.paylinks-contract" 2>/dev/null)" != "$SCHEMATHESIS_PIN" ]; then
    echo "api-contract.sh: installing $SCHEMATHESIS_PIN into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$SCHEMATHESIS_PIN" >&2
    echo "$SCHEMATHESIS_PIN" >"$venv/.paylinks-contract"
fi

[ -x "$BIN" ] || cargo build --locked -p paylinks

work=$(mktemp -d "${TMPDIR:-/tmp}/paylinks-contract.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
merchant=m_contract
vault_key=vk_contract_$(python3 -c 'import secrets; print(secrets.token_hex(16))')
merchant_key=mk_contract_$(python3 -c 'import secrets; print(secrets.token_hex(16))')

# A webhook signing secret the fuzzer cannot know: its Stripe webhook posts are all unsigned (400).
PAYLINKS_DATA="$work/data" PAYLINKS_ADDR="127.0.0.1:$port" LOG_LEVEL=warn PAYLINKS_API_RATE_LIMIT=0 \
    STRIPE_WEBHOOK_SECRET="whsec_contract_$(python3 -c 'import secrets; print(secrets.token_hex(16))')" \
    PAYLINKS_DEMO_MERCHANT="$merchant:$vault_key:$merchant_key" "$BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fs -o /dev/null "$base/assets/checkout.css" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "api-contract.sh: server died" >&2; exit 1; }
    sleep 0.1
done

# Real links and checkout sessions, so operations also run on ids that exist: one link and
# session for the merchant API and the pages (deactivate and cancel may switch them off), and
# one untouched link and session whose form token the pay form carries.
create_link() {
    curl -fsS -X POST "$base/api/payment-links/create" -H 'Content-Type: application/json' \
        -H "X-API-KEY: $vault_key" -H "X-OZURA-API-KEY: $merchant_key" \
        -d "{\"merchantId\":\"$merchant\",\"merchantName\":\"Contract Store\",\"amount\":\"50.00\",
             \"successUrl\":\"https://mystore.com/thank-you\",\"cancelUrl\":\"https://mystore.com/cancelled\",
             \"errorUrl\":\"https://mystore.com/error\",\"metadata\":{\"invoiceId\":\"INV-12345\"}}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["paymentLinkId"])'
}
open_session() {
    local location
    location=$(curl -sS -o /dev/null -w '%{redirect_url}' "$base/pay/$1")
    echo "${location##*/}"
}
link_id=$(create_link)
session_id=$(open_session "$link_id")
pay_session_id=$(open_session "$(create_link)")
form_token=$(curl -fsS "$base/checkout/$pay_session_id" | sed -n 's/.*name="formToken" value="\([^"]*\)".*/\1/p')
[ -n "$form_token" ] || { echo "api-contract.sh: no formToken on the checkout page" >&2; exit 1; }
echo "api-contract.sh: paylinks serve at $base; link $link_id, session $session_id" >&2

# Settings of both passes. The API rate limit is off (PAYLINKS_API_RATE_LIMIT=0 above) so the
# run's thousands of requests a minute reach the handlers, not the limiter (its 429 is in the
# spec and has its own tests).
common() {
    cat <<EOF
[cache]
enabled = false

[auth.openapi]
vaultKey = { api_key = "$vault_key" }
merchantKey = { api_key = "$merchant_key" }

[checks]
# The create request's cross-field rules (merchantId must be the keys' merchant, amount xor items
# xor donation, decimals per currency, originalPrice > price) and the checkout's per-session form
# token cannot be written in JSON Schema: a schema-valid create may be refused 400, a pay 403/422,
# the real checkout, once an earlier case cancelled it, answers 410, and after ~10 declined cards
# the card-testing guard answers 429.
positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "410", "422", "429"]
# Invalid input on the customer routes still gets a page: 410 for a closed checkout.
negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "409", "410", "413", "415", "422"]
EOF
}
common >"$work/generated-ids.toml"
# The second pass names the real link and session in every path, so the handlers' success paths
# (200 JSON, 303 redirects, the checkout page) are fuzzed too, not only their 404s.
{
    common
    cat <<EOF

[[operations]]
include-path-regex = "^(/api/payment-links/[{]id[}]|/pay/[{]id[}])"
parameters = { id = "$link_id" }

# The form carries the real checkout's token (listed first: an operation takes the first entry
# that matches it), so fuzzed card data reaches the card checks and, after enough declines,
# the card-testing guard, not only the stale-form page.
[[operations]]
include-operation-id = "payCheckout"
parameters = { sessionId = "$pay_session_id", "body.formToken" = "$form_token" }

[[operations]]
include-path-regex = "^(/api/sessions|/checkout)/[{]sessionId[}]"
parameters = { sessionId = "$session_id" }

# Create names the keys' own merchant, so more schema-valid bodies create a link.
[[operations]]
include-operation-id = "createPaymentLink"
parameters = { "body.merchantId" = "$merchant" }
EOF
} >"$work/real-ids.toml"

started=$(date +%s)
status=0
for pass in generated-ids real-ids; do
    echo "api-contract.sh: schemathesis, $pass pass (at most $MAX_EXAMPLES examples per operation, seed $SEED)" >&2
    "$venv/bin/schemathesis" --config-file "$work/$pass.toml" run openapi.yaml --url "$base" \
        --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers "${CONTRACT_WORKERS:-1}" \
        --no-color --generation-database none "$@" || status=$?
done
echo "api-contract.sh: schemathesis finished in $(($(date +%s) - started)) s (seed $SEED), exit $status" >&2
if [ "$status" -ne 0 ]; then
    echo "api-contract.sh: server log tail:" >&2
    tail -n 20 "$work/server.log" >&2
fi
[ -z "${CONTRACT_DEBUG:-}" ] || cp -r "$work" "$CONTRACT_DEBUG"
exit "$status"
