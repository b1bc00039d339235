#!/usr/bin/env bash
# Installs the deploy tools (pinned, from PyPI) into one virtualenv outside the work tree and
# prints its bin directory:
#
#   bin=$(scripts/tools.sh sam)       # aws-sam-cli + cfn-lint      (first time ~90 s)
#   bin=$(scripts/tools.sh lambda)    # cargo-lambda (+ ziglang)    (first time ~5 s)
#   bin=$(scripts/tools.sh sam lambda)
#   bin=$(scripts/tools.sh stripe)    # localstripe (the tests' Stripe) and standardwebhooks (their
#                                     # webhook receiver's verifier), in their own virtualenv,
#                                     # ~/.cache/paylinks/stripe-venv: aiohttp apart from SAM's pins)
#
# The virtualenv is $PAYLINKS_TOOLS_VENV (default ~/.cache/paylinks/tools-venv): outside the
# workspace, so `cargo lambda watch` never sees it change and git never sees it at all.
# A group is reinstalled only when its pins change (a stamp file per group).
set -euo pipefail

SAM_PINS=(aws-sam-cli==1.170.0 cfn-lint==1.58.0)
LAMBDA_PINS=(cargo-lambda==1.9.2 ziglang==0.17.1)
STRIPE_PINS=(localstripe==1.15.10 standardwebhooks==1.1.0)

venv="${PAYLINKS_TOOLS_VENV:-$HOME/.cache/paylinks/tools-venv}"
[ $# -gt 0 ] || { echo "usage: tools.sh sam|lambda|stripe ..." >&2; exit 2; }
if [ "$*" = "stripe" ]; then venv="${PAYLINKS_STRIPE_VENV:-$HOME/.cache/paylinks/stripe-venv}"; fi

if [ ! -x "$venv/bin/python" ]; then
    echo "tools.sh: creating virtualenv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
fi

for group in "$@"; do
    case "$group" in
        sam) pins=("${SAM_PINS[@]}") ;;
        lambda) pins=("${LAMBDA_PINS[@]}") ;;
        stripe) pins=("${STRIPE_PINS[@]}") ;;
        *) echo "tools.sh: unknown tool group $group (sam, lambda, stripe)" >&2; exit 2 ;;
    esac
    stamp="$venv/.paylinks-$group"
    if [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
        echo "tools.sh: installing ${pins[*]} into $venv" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
        echo "${pins[*]}" >"$stamp"
    fi
done

echo "$venv/bin"
