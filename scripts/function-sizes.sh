#!/usr/bin/env bash
# Builds every Lambda function (functions/*) in release as `cargo build -p <function>` builds
# it: with only the shared crate's features that function asks for, and prints each stripped
# binary's size (the release profile strips). What a deploy ships is `sam build`'s, with the
# features unified across the workspace: scripts/sam-build.sh prints those (arm64). Functions
# asking for the same features build in one cargo command (identical to building them one at a
# time, and their links run in parallel).
# Usage: scripts/function-sizes.sh [TARGET_DIR]   (x86_64 host build; sam build makes arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-${CARGO_TARGET_DIR:-$PWD/target}}"

declare -A groups=()
for manifest in functions/*/Cargo.toml; do
    name="$(basename "$(dirname "$manifest")")"
    features="$(grep -E '^paylinks-core' "$manifest" | grep -o 'features = \[[^]]*\]' || echo 'no features')"
    groups["$features"]+=" -p $name"
done
for features in "${!groups[@]}"; do
    echo "function-sizes.sh: building${groups[$features]} ($features)" >&2
    # shellcheck disable=SC2086
    CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet ${groups[$features]}
done

echo "| function | stripped size (bytes) | MB |"
echo "|---|---|---|"
for manifest in functions/*/Cargo.toml; do
    name="$(basename "$(dirname "$manifest")")"
    size="$(stat -c %s "$target/release/$name")"
    echo "| $name | $size | $(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }') |"
done
