#!/usr/bin/env bash
# Headless Chromium and ChromeDriver for the browser tests (tests/tests/browser.rs), from
# Debian's packages (a tool's own browser download does not work on our machines). Does
# nothing when both are already installed; CI runs as root on a fresh Debian machine.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi

echo "chromium.sh: installing chromium and chromium-driver" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2

for bin in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$bin" ] || { echo "chromium.sh: $bin still missing after apt-get install" >&2; exit 1; }
done
echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || true); $(/usr/bin/chromedriver --version)" >&2
