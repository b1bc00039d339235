#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md, in one command. Prints figures (markdown tables); asserts no
# timing. Not part of scripts/test.sh or CI.
#
#   scripts/bench.sh                 # everything (~15-25 min on 2 cores, most of it release builds)
#   BENCH_ONLY="calls handlers" scripts/bench.sh   # a subset: calls webhooks handlers scale throughput size coldstart
#
# Knobs: BENCH_FUNCTIONS (functions to build and size; default: all of functions/*),
# BENCH_SCALE_EMBEDDED (default "100 100000"), BENCH_SCALE_MOTO (default "100 5000": moto stores ~150 links/s),
# BENCH_DURATION (wrk seconds per run, default 10), BENCH_CONNECTIONS (default 32),
# CARGO_TARGET_DIR (default target/). Results are also written to $BENCH_OUT (default a temp dir).
#
# Installs what it needs: wrk (Debian package, via scripts/debian-tools.sh), moto[server] (pip, via scripts/moto.sh)
# and dynalite (npm, for the cold start's second store).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
only="${BENCH_ONLY:-calls webhooks handlers scale throughput size coldstart}"
out="${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/paylinks-bench.XXXXXX")}"
duration="${BENCH_DURATION:-10}"
connections="${BENCH_CONNECTIONS:-32}"
functions="${BENCH_FUNCTIONS:-$(ls functions)}"
mkdir -p "$out"
wants() { [[ " $only " == *" $1 "* ]]; }
say() { printf '\n## %s\n\n' "$*" | tee -a "$out/summary.md"; }

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n "${moto_pidfile:-}" && -f "$moto_pidfile" ]]; then kill "$(cat "$moto_pidfile")" 2>/dev/null || true; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

say "Machine"
{
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "- memory: $(grep MemTotal /proc/meminfo | awk '{printf "%.1f GB", $2/1048576}'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- rustc: $(rustc --version); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee -a "$out/summary.md"

# --- build ---------------------------------------------------------------------------------
if wants size || wants coldstart; then
    # The functions alone (not unified with the bench crate's `test-support` feature).
    args=(); for f in $functions; do args+=(-p "$f"); done
    cargo build --release --quiet "${args[@]}"
fi
# `paylinks serve` as its users build it: the `cli` profile (`release` is the Lambda functions').
if wants size || wants throughput; then
    cargo build --profile cli --quiet -p paylinks
fi
cargo build --release --quiet -p paylinks-bench --bins
bin="$target/release"
cli="$target/cli/paylinks"

# --- moto_server ---------------------------------------------------------------------------
if wants calls || wants webhooks || wants scale || wants coldstart || wants size; then
    endpoint="$(scripts/moto.sh)"
    moto_pidfile="${TMPDIR:-/tmp}/paylinks-moto-${endpoint##*:}.pid"
    export PAYLINKS_TEST_DYNAMODB_ENDPOINT="$endpoint"
fi

# --- 1. DynamoDB requests per operation ---------------------------------------------------
if wants calls; then
    say "1. DynamoDB requests per operation (moto_server, SDK interceptor)"
    "$bin/dynamo_calls" counts | tee -a "$out/summary.md"
fi

# --- 1b. webhooks: payment → receiver, requests per event -----------------------------------
if wants webhooks; then
    say "1b. Webhooks: payment to receiver (serve's one-second dispatcher), DynamoDB requests per event"
    "$bin/webhook_delivery" 40 | tee -a "$out/summary.md"
fi

# --- 2. handler cost (criterion) -----------------------------------------------------------
if wants handlers; then
    say "2. Handler cost in-process (criterion; time per request)"
    cargo bench -p paylinks-bench --bench handlers 2>&1 | tee "$out/criterion.txt" \
        | grep -E '^[a-z-]+/[a-z-]+|time:' | paste - - | awk '{print "- " $1 ": " $3 " " $4 " [" $5 " " $6 " .. " $7 " " $8 "]"}' \
        | tr -d '[]' | sed 's/: \(.*\)$/: \1/' | tee -a "$out/summary.md"
fi

# --- 3. scale ------------------------------------------------------------------------------
if wants scale; then
    say "3. Scale: check and open latency, few vs many links stored (in-process)"
    # On tmpfs when there is one: 10^5 links inserted one fsync'd transaction each would take minutes on disk.
    scale_parent="$([[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")"
    scale_dir="$(mktemp -d "$scale_parent/paylinks-scale.XXXXXX")"
    "$bin/scale" embedded "$scale_dir" ${BENCH_SCALE_EMBEDDED:-100 100000} | tee -a "$out/summary.md"
    rm -rf "$scale_dir"
    "$bin/scale" moto ${BENCH_SCALE_MOTO:-100 5000} | tail -n +3 | tee -a "$out/summary.md"
fi

# --- 4. throughput -------------------------------------------------------------------------
if wants throughput; then
    scripts/debian-tools.sh wrk
    say "4. Throughput: wrk -t2 -c$connections -d${duration}s, paylinks serve (cli profile, embedded store) vs bare hyper"
    data="$(mktemp -d "${TMPDIR:-/tmp}/paylinks-serve.XXXXXX")"
    port="$(free_port)"
    PAYLINKS_DATA="$data" PAYLINKS_ADDR="127.0.0.1:$port" PAYLINKS_DEMO_MERCHANT="bench_merchant:vk_bench:mk_bench" \
        "$cli" serve >/dev/null 2>&1 &
    serve_pid=$!; pids+=("$serve_pid")
    hport="$(free_port)"
    "$bin/hello_http" "127.0.0.1:$hport" >/dev/null &
    pids+=($!)
    wait_port "$port"; wait_port "$hport"
    link="$(curl -sf -X POST "http://127.0.0.1:$port/api/payment-links/create" -H 'content-type: application/json' \
        -H 'X-API-KEY: vk_bench' -H 'X-OZURA-API-KEY: mk_bench' \
        -d '{"merchantId":"bench_merchant","merchantName":"Bench","amount":"50.00","currency":"USD","successUrl":"https://example.com/ok","cancelUrl":"https://example.com/cancel","errorUrl":"https://example.com/error","expiresInDays":30,"usageLimit":null}' \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["paymentLinkId"])')"
    echo "| target | req/s | p50 | p99 | non-2xx/3xx | vs hello |" | tee -a "$out/summary.md"
    echo "|---|---|---|---|---|---|" | tee -a "$out/summary.md"
    run_wrk() { # name url
        wrk -t2 -c"$connections" -d"${duration}s" --latency "$2" >"$out/wrk-$1.txt" 2>&1
        rps="$(awk '/^Requests\/sec/ {print $2}' "$out/wrk-$1.txt")"
        p50="$(awk '$1=="50%" {print $2}' "$out/wrk-$1.txt")"
        p99="$(awk '$1=="99%" {print $2}' "$out/wrk-$1.txt")"
        bad="$(awk '/Non-2xx or 3xx/ {print $5}' "$out/wrk-$1.txt")"
        ratio="$(python3 -c "print(f'{$rps / ${hello_rps:-$rps}:.2f}')")"
        echo "| $1 | $rps | $p50 | $p99 | ${bad:-0} | $ratio |" | tee -a "$out/summary.md"
    }
    hello_rps=""
    run_wrk hello "http://127.0.0.1:$hport/"
    hello_rps="$rps"
    run_wrk check-availability "http://127.0.0.1:$port/api/payment-links/$link/check-availability"
    run_wrk open "http://127.0.0.1:$port/pay/$link"
    run_wrk hello-again "http://127.0.0.1:$hport/"
    echo | tee -a "$out/summary.md"
    echo "- paylinks serve peak RSS after all runs above: $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$serve_pid/status")" \
        | tee -a "$out/summary.md"
    kill "$serve_pid"; rm -rf "$data"
fi

# --- 5 & 6. size, memory, cold start -------------------------------------------------------
if wants size || wants coldstart; then
    table="bench_lambda_$(date +%s)"
    link="$("$bin/dynamo_calls" prepare "$table")"
    sed "s/{{LINK_ID}}/$link/g" shared/fixtures/apigw/check-availability.json >"$out/event-check.json"
    sed "s/{{LINK_ID}}/$link/g" shared/fixtures/apigw/open-link.json >"$out/event-open.json"
    export TABLE_NAME="$table" AWS_ENDPOINT_URL_DYNAMODB="$PAYLINKS_TEST_DYNAMODB_ENDPOINT" AWS_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x PUBLIC_BASE_URL=https://pay.example.com LOG_LEVEL=info
fi
if wants size; then
    say "5. Size (stripped; the functions in the release profile, paylinks in cli) and memory"
    echo "| binary | size |" | tee -a "$out/summary.md"; echo "|---|---|" | tee -a "$out/summary.md"
    for path in $(for f in $functions; do echo "$bin/$f"; done) "$cli" "$bin/hello_lambda"; do
        [[ -f "$path" ]] && echo "| $(basename "$path") | $(stat -c %s "$path" | awk '{printf "%.1f MB", $1/1048576}') |" | tee -a "$out/summary.md"
    done
    echo | tee -a "$out/summary.md"
    "$bin/runtime_api" --header "function (1000 invocations, runtime API responder, moto)" | tee -a "$out/summary.md"
    "$bin/runtime_api" --event "$out/event-check.json" --runs 1 --invocations 1000 -- "$bin/check-availability" | tee -a "$out/summary.md"
    "$bin/runtime_api" --event "$out/event-open.json" --runs 1 --invocations 1000 -- "$bin/open-link" | tee -a "$out/summary.md"
fi
if wants coldstart; then
    say "6. Cold start: process start -> first invocation answered (runtime API responder on loopback)"
    "$bin/runtime_api" --header binary | tee -a "$out/summary.md"
    "$bin/runtime_api" --event "$out/event-check.json" --runs 15 -- "$bin/hello_lambda" | tee -a "$out/summary.md"
    "$bin/runtime_api" --event "$out/event-check.json" --runs 15 -- "$bin/sdk_get_item" | tee -a "$out/summary.md"
    "$bin/runtime_api" --event "$out/event-check.json" --runs 15 -- "$bin/check-availability" | tee -a "$out/summary.md"
    # The same trusting the system's root certificates (as before Amazon's roots were pinned).
    PAYLINKS_AWS_ROOTS=system "$bin/runtime_api" --event "$out/event-check.json" --runs 15 -- "$bin/check-availability" \
        | sed 's/^| [^|]*/| check-availability, PAYLINKS_AWS_ROOTS=system /' | tee -a "$out/summary.md"
    sed "s#{{FILE}}#checkout.css#g" shared/fixtures/apigw/asset.json >"$out/event-asset.json"
    "$bin/runtime_api" --event "$out/event-asset.json" --runs 15 -- "$bin/assets" | tee -a "$out/summary.md"
    "$bin/runtime_api" --event "$out/event-open.json" --runs 15 -- "$bin/open-link" | tee -a "$out/summary.md"
    # hello, sdk_get_item and check-availability again against dynalite (pinned, npm, in memory),
    # whose GetItem is a few ms faster than moto's: the start left to the function once the store
    # answers like a near one. Issue 16's start goal is judged here: check-availability's first
    # answer over hello's, in fifty interleaved passes of twenty starts each (one pass on a noisy
    # machine ranges ~1.1-3.1x).
    dynalite_dir="${XDG_CACHE_HOME:-$HOME/.cache}/paylinks/dynalite-4.0.0"
    [[ -x "$dynalite_dir/node_modules/.bin/dynalite" ]] ||
        npm install --prefix "$dynalite_dir" --no-audit --no-fund --silent dynalite@4.0.0 >&2
    dport="$(free_port)"
    "$dynalite_dir/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$dport" --createTableMs 0 >/dev/null 2>&1 &
    pids+=($!)
    wait_port "$dport"
    python3 scripts/copy-table.py "$PAYLINKS_TEST_DYNAMODB_ENDPOINT" "http://127.0.0.1:$dport" "$table"
    echo | tee -a "$out/summary.md"
    echo "Against dynalite, interleaved passes (medians of the passes' p50s):" | tee -a "$out/summary.md"
    echo | tee -a "$out/summary.md"
    AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dport" "$bin/runtime_api" --event "$out/event-check.json" \
        --runs 20 --passes 50 --compare "$bin/hello_lambda" "$bin/sdk_get_item" "$bin/check-availability" \
        | tee -a "$out/summary.md"
    echo | tee -a "$out/summary.md"
    echo "Where the DynamoDB client's construction goes (medians of fresh processes):" | tee -a "$out/summary.md"
    "$bin/client_init" 15 | tee -a "$out/summary.md"
fi

echo
echo "bench.sh: results in $out/summary.md"
