#!/usr/bin/env bash
# Every test of syncws, conformance included. Run from anywhere:
#   bash scripts/test-all.sh
# Installs what it needs itself (the kosoku conformance runner goes into a
# venv under target/). Needs Rust, Python 3 and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
# Clients (ours and Python's) use the proxy the environment names, as curl
# does; the tests talk to 127.0.0.1 only, so never through a proxy of this
# machine's (tests/proxy.rs and tests/client_handshake.rs set their own).
export no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
export NO_PROXY="$no_proxy"

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --no-default-features -- -D warnings
# rustls alone, and beside native-tls (issue 17: either, both or neither).
cargo clippy --all-targets --no-default-features --features rustls -- -D warnings
cargo clippy --all-targets --features rustls-webpki-roots -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q --features rustls
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q --no-default-features --features rustls
# The cluster crate (a member of the workspace, not a default one).
cargo clippy -p syncws-redis --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q -p syncws-redis

echo "== peers from other languages (Python websockets, for the wss and Unix socket interop tests)"
if [ ! -x target/py-venv/bin/python ]; then
    python3 -m venv target/py-venv
fi
target/py-venv/bin/python -c "import websockets" 2>/dev/null ||
    target/py-venv/bin/pip install -q websockets==17.4
export SYNCWS_PYTHON="$PWD/target/py-venv/bin/python"

echo "== Node ws (bench/node's, pinned by its package-lock.json) for tests/deflate_interop.rs"
if [ ! -f bench/node/node_modules/ws/package.json ]; then
    if command -v npm >/dev/null; then
        (cd bench/node && npm ci --no-audit --no-fund)
    else
        echo "npm not found: the Node interop tests fail under CI"
    fi
fi

echo "== proxies for tests/proxy.rs (tinyproxy, dante; db_load for dante's PAM user list)"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    missing=""
    command -v tinyproxy >/dev/null || missing="$missing tinyproxy"
    [ -x /usr/sbin/danted ] || missing="$missing dante-server"
    command -v db_load >/dev/null || missing="$missing db-util"
    if [ -n "$missing" ]; then
        apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
fi

echo "== Redis for the cluster crate's tests (redis-server)"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    if ! command -v redis-server >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
fi

echo "== the cluster crate (syncws-redis), on redis-servers of its tests' own"
cargo test -p syncws-redis

echo "== tests without TLS (feature native-tls off)"
cargo test --no-default-features -q

echo "== TLS through rustls: alone, then beside native-tls (each against the other)"
# Only what rustls changes: the unit tests, the doc examples and the TLS
# suites (tests/tls.rs runs every scenario on every pairing of backends;
# tests/unix.rs runs wss over a Unix socket on rustls).
cargo test --no-default-features --features rustls -q --lib --test tls --test python_peer --test unix --test streams
cargo test --features rustls -q --test tls --test python_peer --test unix --test streams
cargo test --features rustls -q --doc

echo "== conformance: Autobahn TestSuite cases through kosoku, both sides"
bash autobahn/run.sh

echo "== the benchmark suite builds, and its codec tests pass (no timing)"
cargo test -q --manifest-path bench/Cargo.toml

echo "== all tests, default features"
cargo test
