#!/usr/bin/env bash
# A DynamoDB mock (moto_server) on loopback for the store tests.
#
#   endpoint=$(scripts/moto.sh [PORT])       # start it detached on PORT (default: a free port),
#                                            # print http://127.0.0.1:PORT once it is listening
#   PAYLINKS_TEST_DYNAMODB_ENDPOINT=$endpoint cargo test ...
#   kill "$(cat "${TMPDIR:-/tmp}/paylinks-moto-PORT.pid")"
#
#   scripts/moto.sh --foreground PORT        # run it in the foreground, never install (what the
#                                            # Rust test support does when no endpoint is given)
#
# Installs moto[server] (pinned) with pip when it is missing, except with --foreground (exit 127).
#
# Why not plain `moto_server`: it serves requests on parallel threads with no lock around its
# in-memory tables, so racing conditional writes can both succeed (seen: 2 of 20 concurrent
# `attribute_not_exists(pk)` puts of one item won; 6 of 50 `used < lim` updates with lim 5 won).
# Real DynamoDB serializes the writes to an item. So this runs moto_server's own `main` with
# request dispatch under one lock: the same server, the same API, writes decided one at a time.
set -euo pipefail

MOTO_VERSION="5.2.1"
SERVE='
import sys, threading
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main

lock = threading.Lock()
dispatch = DomainDispatcherApplication.__call__

def serialized(self, environ, start_response):
    with lock:
        return list(dispatch(self, environ, start_response))

DomainDispatcherApplication.__call__ = serialized
main(sys.argv[1:])
'

installed() { python3 -c 'import moto.server' >/dev/null 2>&1; }

if [[ "${1:-}" == "--foreground" ]]; then
    port="${2:?usage: moto.sh --foreground PORT}"
    installed || { echo "moto.sh: moto[server] is not installed: run scripts/moto.sh once" >&2; exit 127; }
    exec python3 -c "$SERVE" -H 127.0.0.1 -p "$port"
fi

if ! installed; then
    echo "moto.sh: installing moto[server]==$MOTO_VERSION" >&2
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    installed || { echo "moto.sh: moto still not importable by python3 after pip install" >&2; exit 1; }
fi

port="${1:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
tmp="${TMPDIR:-/tmp}"
log="$tmp/paylinks-moto-$port.log"
pidfile="$tmp/paylinks-moto-$port.pid"

# Detached from our stdio, so `$(scripts/moto.sh)` returns as soon as the server is up.
nohup python3 -c "$SERVE" -H 127.0.0.1 -p "$port" </dev/null >"$log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

for _ in $(seq 1 300); do # up to 30 s; it is usually ready in 0.5-2 s
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "moto.sh: moto_server exited early; log $log:" >&2
        cat "$log" >&2
        exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "moto.sh: moto_server pid $pid on port $port (pid file $pidfile, log $log)" >&2
        echo "http://127.0.0.1:$port"
        exit 0
    fi
    sleep 0.1
done
echo "moto.sh: moto_server not listening on port $port after 30 s; log $log:" >&2
cat "$log" >&2
kill "$pid" 2>/dev/null || true
exit 1
