#!/usr/bin/env bash
# The whole test suite, on a fresh machine or this one: installs and starts what the tests
# need (moto_server for DynamoDB on loopback), builds the binaries the flow tests run, then
# runs every test with cargo-nextest (cargo test where nextest is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# The SAM template lints clean (sam validate --lint + cfn-lint, pinned, offline).
scripts/check-template.sh

moto_pid=""
cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

endpoint=$(scripts/moto.sh)
port=${endpoint##*:}
moto_pid=$(cat "${TMPDIR:-/tmp}/paylinks-moto-$port.pid")
export PAYLINKS_TEST_DYNAMODB_ENDPOINT="$endpoint"
echo "test.sh: moto_server at $endpoint"

scripts/debian-tools.sh # headless Chromium + ChromeDriver (browser tests) and wrk (load tests), when missing

# The flow tests start the real binaries: build them once, up front.
cargo build --locked --workspace --bins

# The Lambda emulator test (tests/tests/lambda_emulator.rs) runs functions/* with cargo-lambda
# (pinned, from PyPI), whose `cargo run --bin <function>` builds each function's package alone,
# with only the shared crate's features that function asks for: build them that way up front,
# one at a time (one command would unify their features), so the emulator's first requests
# don't wait for a compile.
CARGO_LAMBDA="$(scripts/tools.sh lambda)/cargo-lambda"
export CARGO_LAMBDA
# localstripe (pinned, from PyPI): the Stripe the Stripe tests pay through, started by each test.
LOCALSTRIPE="$(scripts/tools.sh stripe)/localstripe"
export LOCALSTRIPE
for manifest in functions/*/Cargo.toml; do
    cargo build --locked -p "$(basename "$(dirname "$manifest")")"
done

# Every process a flow test starts logs here; after the suite, every line is audited.
export PAYLINKS_TEST_LOG_DIR="${CARGO_TARGET_DIR:-$PWD/target}/test-logs"
rm -rf "$PAYLINKS_TEST_LOG_DIR"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --workspace --no-fail-fast "$@"
else
    cargo test --locked --workspace --no-fail-fast "$@"
fi

# No card number, CVC or API key in anything the suite stored in DynamoDB (moto) or logged.
# The whole suite must have written something to audit; a filtered run may not have.
audit_args=()
if [ $# -eq 0 ]; then audit_args+=(--require-data); fi
python3 scripts/secrets-audit.py --dynamodb "$endpoint" --logs "$PAYLINKS_TEST_LOG_DIR" ${audit_args[@]+"${audit_args[@]}"}

# openapi.yaml against the real `paylinks serve` built above (schemathesis; fails on any drift or 5xx).
scripts/api-contract.sh
