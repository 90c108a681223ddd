#!/usr/bin/env bash
# Runs the W3C Trace Context conformance suite (`test/test.py` of the
# w3c/trace-context repository) against `examples/w3c_test_service.rs`, at
# SPEC_LEVEL=2 (Level 2 tests included) and STRICT_LEVEL=2 (all tests).
#
# Usage: scripts/w3c-suite.sh [TEST_DIR] [TEST_PATTERN...]
#
# TEST_DIR is the `test` folder of a checkout of w3c/trace-context (the one
# holding `test.py`; the checkout's root is accepted too). Without the
# argument it is read from W3C_TRACE_CONTEXT_DIR. TEST_PATTERNs are passed
# on to test.py to run part of the suite, e.g.
# `TraceContextTest.test_tracestate_duplicated_keys` (with an empty TEST_DIR,
# "", the folder still comes from W3C_TRACE_CONTEXT_DIR).
#
# This script downloads nothing: get the suite and its one dependency first
# (a clone of the GitHub repository w3c/trace-context, and
# `pip install aiohttp`). Environment:
#
#   W3C_TRACE_CONTEXT_DIR  the test folder, when not given as an argument
#   PYTHON                 the Python 3 that has `aiohttp` (default python3)
#   HARNESS_PORT           the port the suite listens on for the service's
#                          callbacks (default: a free loopback port)
#   HARNESS_TIMEOUT        seconds the suite waits per request (default 5)
#
# It builds the example service, starts it on a free loopback port (the
# service binds `127.0.0.1:0` and prints the address it got), runs the suite,
# stops the service, and exits with the suite's status: 0 when every test
# passed, otherwise the number of tests that failed or errored. A usage or
# setup problem (no suite, no aiohttp, a failed build, a service that does
# not start) exits with 2 before the suite runs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

die() {
    echo "w3c-suite: $*" >&2
    exit 2
}

test_dir="${1:-${W3C_TRACE_CONTEXT_DIR:-}}"
if [ $# -gt 0 ]; then
    shift
fi
[ -n "$test_dir" ] || die "usage: $0 TEST_DIR [TEST_PATTERN...] (or set W3C_TRACE_CONTEXT_DIR)"
if [ ! -f "$test_dir/test.py" ] && [ -f "$test_dir/test/test.py" ]; then
    test_dir="$test_dir/test"
fi
[ -f "$test_dir/test.py" ] || die "no test.py in '$test_dir' (expected the test folder of w3c/trace-context)"
test_dir="$(cd "$test_dir" && pwd)"

command -v "$python" >/dev/null 2>&1 || die "'$python' not found (set PYTHON to a Python 3)"
"$python" -c 'import aiohttp' >/dev/null 2>&1 ||
    die "'$python' cannot import aiohttp, which the suite needs: pip install aiohttp (or set PYTHON)"

# Build first, so that waiting for the service below never includes a
# compilation or a wait on cargo's build lock. The binary's path comes from
# cargo's own report, so CARGO_TARGET_DIR and the like are respected.
echo "w3c-suite: building the example w3c_test_service" >&2
service_bin="$(
    cd "$repo_root" &&
        cargo build --example w3c_test_service --message-format=json-render-diagnostics |
        "$python" -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
            and msg["target"]["name"] == "w3c_test_service":
        print(msg["executable"])
'
)" || die "building the example w3c_test_service failed"
[ -n "$service_bin" ] && [ -x "$service_bin" ] || die "cargo did not report the w3c_test_service binary"

if [ -z "${HARNESS_PORT:-}" ]; then
    # A port free now; the suite binds it a moment later.
    HARNESS_PORT="$(
        "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    )"
fi
export HARNESS_PORT

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/w3c-suite.XXXXXX")"
service_log="$work_dir/service.log"
service_pid=""
# shellcheck disable=SC2329 # invoked by the EXIT trap below
cleanup() {
    if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
        kill "$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
    fi
    rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Started from the work directory, so that nothing it might write lands in
# the repository.
(cd "$work_dir" && exec "$service_bin" 127.0.0.1:0) >"$service_log" 2>&1 &
service_pid=$!

endpoint=""
for _ in $(seq 1 300); do
    endpoint="$(sed -n 's|^W3C Trace Context test service on \(http://[^ ]*/test\)$|\1|p' "$service_log")"
    [ -n "$endpoint" ] && break
    if ! kill -0 "$service_pid" 2>/dev/null; then
        cat "$service_log" >&2
        die "the service exited before listening"
    fi
    sleep 0.1
done
if [ -z "$endpoint" ]; then
    cat "$service_log" >&2
    die "the service did not report its address within 30 s"
fi
echo "w3c-suite: service on $endpoint, suite harness on 127.0.0.1:$HARNESS_PORT" >&2

status=0
(
    cd "$test_dir" &&
        SPEC_LEVEL=2 STRICT_LEVEL=2 "$python" test.py "$endpoint" "$@"
) || status=$?

if [ "$status" -ne 0 ] && [ -s "$service_log" ]; then
    echo "w3c-suite: service output:" >&2
    sed -n '1,200p' "$service_log" >&2
fi
exit "$status"
