#!/bin/sh
# The cluster benchmark: syncws-redis beside Socket.IO with its Redis
# adapter, 1, 2 and 4 servers, on one redis-server the benchmark starts
# (a free loopback port). Needs redis-server, node and npm on PATH.
#
#   syncws-redis/bench/run.sh [cluster-bench options, e.g. --messages 4000]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here/socketio" && npm ci --no-audit --no-fund --silent)
cd "$here/../.."
cargo build --release -p syncws-redis --example cluster-bench
exec target/release/examples/cluster-bench --socketio "$here/socketio/server.js" "$@"
