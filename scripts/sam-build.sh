#!/usr/bin/env bash
# `sam build` offline, as a team runs it before `sam deploy` (without unwind tables, below), then
# checks the result: one aarch64 ELF executable `bootstrap` per function of template.yaml.
#
#   scripts/sam-build.sh                 # defaults from samconfig.toml (cached, parallel)
#   scripts/sam-build.sh --no-cached     # extra arguments go to `sam build`
#
# SAM CLI and cargo-lambda (with zig, which links for arm64 without a cross gcc) come pinned
# from PyPI via scripts/tools.sh; no Docker, no AWS account. Cold, the AWS SDK takes minutes on
# 2 cores; after a change in shared/, about a minute for every function (BENCHMARKS.md §8). CI
# does not run it.
#
#   scripts/sam-build.sh CheckAvailabilityFunction   # one function, and only its artifact checked
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(scripts/tools.sh sam lambda)
export PATH="$bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_REGION="${AWS_REGION:-us-east-1}"

# The release profile aborts on panic (Cargo.toml), so nothing in a deployed function unwinds:
# its unwind tables (.eh_frame, ~9% of each bootstrap, BENCHMARKS.md §8) are left out. A panic
# still logs its message and location before the instance ends. Only these arm64 builds: tests
# and `paylinks serve` unwind, and need the tables.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C force-unwind-tables=no"

# cargo-lambda links through cargo-zigbuild, which looks for zig as `python3 -m ziglang` before a
# plain `zig` binary and asks rustc its version on every link: a Python start and a rustc start
# for each probe and each of the 23 links (BENCHMARKS.md §8, "The zig wrapper"). Name the
# ziglang package's own binary, make the Python lookup fail fast (no such file), and give the
# rustc version once.
CARGO_ZIGBUILD_ZIG_PATH=$("$bin/python" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
CARGO_ZIGBUILD_RUSTC_VERSION=$(rustc -V | cut -d' ' -f2)
export CARGO_ZIGBUILD_ZIG_PATH CARGO_ZIGBUILD_RUSTC_VERSION CARGO_ZIGBUILD_PYTHON_PATH=/nonexistent/python3

# cargo-lambda installs the aarch64 std component itself on first use, but parallel builds race
# to do it (all but one report a failure): install it once, first.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi

# The functions: `  <LogicalId>:` followed by `    Type: AWS::Serverless::Function`.
functions=$(awk '/^  [A-Za-z0-9]+:$/ { id = substr($1, 1, length($1) - 1); next }
                 /^    Type: AWS::Serverless::Function$/ { print id }' template.yaml)
[ -n "$functions" ] || { echo "sam-build.sh: no functions found in template.yaml" >&2; exit 1; }
# A function named on the command line (sam build's RESOURCE_LOGICAL_ID) is the only one built.
for arg in "$@"; do
    if echo "$functions" | grep -Fxq -- "$arg"; then functions=$arg; fi
done

started=$(date +%s)
sam build --template-file template.yaml "$@"
echo "sam-build.sh: sam build took $(($(date +%s) - started)) s"

failed=0
for function in $functions; do
    artifact=".aws-sam/build/$function/bootstrap"
    if verdict=$(python3 - "$artifact" <<'EOF'
import os, struct, sys
path = sys.argv[1]
try:
    with open(path, "rb") as f:
        header = f.read(20)
except OSError as e:
    sys.exit(f"missing ({e.strerror})")
if header[:4] != b"\x7fELF":
    sys.exit("not an ELF file")
if header[4] != 2:
    sys.exit("not a 64-bit ELF")
machine = struct.unpack("<H", header[18:20])[0]
if machine != 183:  # EM_AARCH64
    sys.exit(f"ELF machine {machine}, not aarch64 (183)")
if not os.access(path, os.X_OK):
    sys.exit("not executable")
size = os.path.getsize(path)
print(f"aarch64 ELF, {size:,} bytes = {size / 2**20:.2f} MiB")
EOF
    ); then
        echo "sam-build.sh: $artifact: $verdict"
    else
        echo "sam-build.sh: $artifact: FAILED" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1
echo "sam-build.sh: $(echo "$functions" | wc -l) functions built; deploy with: sam deploy (first time: sam deploy --guided)"
