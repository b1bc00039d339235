#!/usr/bin/env bash
# The Debian packages the tests drive: headless Chromium + ChromeDriver (tests/tests/browser.rs;
# a tool's own browser download does not work on our machines) and wrk, the load generator
# (tests/tests/resilience.rs, scripts/bench.sh). Installs only what is missing, in one
# apt-get; CI runs as root on a fresh Debian machine.
#
#   scripts/debian-tools.sh          # all of them (scripts/test.sh)
#   scripts/debian-tools.sh wrk      # only these packages (scripts/bench.sh)
set -euo pipefail

# binary → the package that provides it
declare -A packages=([/usr/bin/chromium]=chromium [/usr/bin/chromedriver]=chromium-driver [/usr/bin/wrk]=wrk)
if [ $# -gt 0 ]; then
    for bin in "${!packages[@]}"; do
        [[ " $* " == *" ${packages[$bin]} "* ]] || unset "packages[$bin]"
    done
fi

missing=()
for bin in "${!packages[@]}"; do
    [ -x "$bin" ] || missing+=("${packages[$bin]}")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "debian-tools.sh: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

for bin in "${!packages[@]}"; do
    [ -x "$bin" ] || { echo "debian-tools.sh: $bin still missing after apt-get install" >&2; exit 1; }
done
echo "debian-tools.sh: installed ${missing[*]}" >&2
