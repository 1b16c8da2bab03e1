#!/usr/bin/env bash
# The Autobahn conformance suite (RFC 6455, and RFC 7692's permessage-deflate
# in 12.* and 13.*), the whole of it, run by kosoku against both ends:
#
#   server side: kosoku's fuzzing client drives examples/autobahn-server;
#   client side: examples/autobahn-client drives kosoku's fuzzing server.
#
# The fuzzing server does not tell a client which case it is running, so the
# client is given the case ids in the server's order (from kosoku's case
# index), to make each 13.* case's offer. Reports go to
# target/autobahn/{server,client}/ (index.html to browse); the verdicts are
# then checked against autobahn/expected-{server,client}.json by compare.py.
#
#   autobahn/run.sh            run both sides and compare
#   autobahn/run.sh --update   run both sides and rewrite the expected files
#                              (refused if any verdict is bad)
#
# Everything listens on 127.0.0.1, on ports the system picks.
set -euo pipefail

cd "$(dirname "$0")/.."
started=$SECONDS

KOSOKU_VERSION=0.1.0
VENV=target/autobahn-venv
OUT=target/autobahn
BIN=${CARGO_TARGET_DIR:-target}/release/examples
# Seconds for one side's whole run. The compression cases (12.*, 13.*) take
# nearly all of it: 1,000 messages of 16 bytes to 128 KiB a case, about
# 11 GB through deflate and back a side. Measured: 350 to 450 s a side on 2
# cores shared with a load average of 20.
CASE_TIMEOUT=1200

update=()
case "${1:-}" in
    "") ;;
    --update) update=(--update) ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

pids=()
cleanup() {
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command under `timeout`, as a child that cleanup() knows about: an
# interrupt then stops the run at once, with nothing left behind. (A command
# run in the foreground would hold off the traps until it ended, and
# `timeout` shields it from the terminal's Ctrl-C.)
bounded() {
    local seconds=$1
    shift
    timeout "$seconds" "$@" &
    pids+=($!)
    wait "$!"
}

# Print what `pattern` (a sed expression) extracts from the first matching
# line of `file`, waiting up to 10 s for it to appear.
wait_for_line() {
    local file=$1 pattern=$2 found
    for _ in $(seq 100); do
        found=$(sed -n "$pattern" "$file" | head -n 1)
        if [[ -n $found ]]; then
            echo "$found"
            return 0
        fi
        sleep 0.1
    done
    echo "timed out waiting for the address in $file:" >&2
    cat "$file" >&2
    return 1
}

# kosoku, in its own virtualenv.
if [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kosoku"))' 2>/dev/null)" != "$KOSOKU_VERSION" ]]; then
    echo "== installing kosoku $KOSOKU_VERSION into $VENV"
    python3 -m venv "$VENV"
    bounded 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
fi
KOSOKU=$VENV/bin/kosoku

echo "== building the examples"
bounded 600 cargo build --quiet --release --example autobahn-server --example autobahn-client

rm -rf "$OUT/server" "$OUT/client"
mkdir -p "$OUT"
status=0

echo "== server side: kosoku fuzzingclient -> autobahn-server"
"$BIN/autobahn-server" 127.0.0.1:0 >"$OUT/server.log" 2>&1 &
server=$!
pids+=("$server")
server_addr=$(wait_for_line "$OUT/server.log" 's/^listening on //p')
t=$SECONDS
bounded "$CASE_TIMEOUT" "$KOSOKU" -m fuzzingclient -p 2 \
    -o "$OUT/server" "$server_addr" >"$OUT/fuzzingclient.log" 2>&1 || status=1
echo "   $(tail -n 1 "$OUT/fuzzingclient.log") ($((SECONDS - t)) s)"
kill "$server" 2>/dev/null || true

echo "== client side: autobahn-client -> kosoku fuzzingserver"
# The ids of the cases the fuzzing server numbers 1, 2, ...: the whole suite,
# in the order of kosoku's index (already sorted by id, as the server sorts).
"$VENV/bin/python" -c 'from kosoku.cases import CASES; print(*CASES, sep="\n")' \
    >"$OUT/client-cases.txt"
timeout "$CASE_TIMEOUT" "$KOSOKU" -m fuzzingserver \
    -o "$OUT/client" 127.0.0.1:0 >"$OUT/fuzzingserver.log" 2>&1 &
fuzzingserver=$!
pids+=("$fuzzingserver")
fuzz_addr=$(wait_for_line "$OUT/fuzzingserver.log" 's|^fuzzingserver listening on ws://||p')
t=$SECONDS
if bounded "$CASE_TIMEOUT" "$BIN/autobahn-client" "$fuzz_addr" "$OUT/client-cases.txt" \
    >"$OUT/client.log" 2>&1; then
    # The fuzzing server writes its reports and exits once the client has
    # asked for them (updateReports).
    wait "$fuzzingserver" || status=1
else
    status=1
    echo "   autobahn-client failed:" && tail -n 5 "$OUT/client.log"
    kill "$fuzzingserver" 2>/dev/null || true
fi
echo "   $(tail -n 1 "$OUT/fuzzingserver.log") ($((SECONDS - t)) s)"

echo "== comparing with the expected results"
for side in server client; do
    "$VENV/bin/python" autobahn/compare.py "$OUT/$side/index.json" \
        "autobahn/expected-$side.json" ${update[@]+"${update[@]}"} || status=1
done

echo "== done in $((SECONDS - started)) s: reports in $OUT/{server,client}/index.html"
if [[ $status -ne 0 ]]; then
    echo "FAILED (see above and the logs in $OUT/)"
fi
exit "$status"
