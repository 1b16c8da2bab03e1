#!/usr/bin/env python3
"""Instructions a benchmark server spends per 32-byte echo, counted by
callgrind (repeatable on a noisy machine, unlike time): the server of
`syncws-bench serve KIND` under valgrind, 64 connections interleaved, two
runs of N and 2N rounds; the difference divided by N x 64 leaves out the
start, the handshakes and the end.

    cargo build --release --manifest-path bench/Cargo.toml
    python3 bench/instructions.py bench/target/release/syncws-bench [syncws|tungstenite|raw]

ROUNDS (default 300) sets N. Needs valgrind and Python 3."""
import os, socket, struct, subprocess, sys, re, tempfile

binary = sys.argv[1]
kind = sys.argv[2] if len(sys.argv) > 2 else "syncws"
CONNS = 64
PAYLOAD = b"x" * 32

def frame(payload):
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x82, 0x80 | len(payload)]) + mask + masked

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf

def run(rounds):
    out = tempfile.mktemp(prefix="cg.")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                          binary, "serve", kind, "--bind", "127.0.0.1:0"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    addr = line.split()[1]
    host, port = addr.rsplit(":", 1)
    socks = []
    for _ in range(CONNS):
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        socks.append(s)
    f = frame(PAYLOAD)
    for _ in range(rounds):
        for s in socks:
            s.sendall(f)
        for s in socks:
            recv_exact(s, 2 + len(PAYLOAD))
    for s in socks:
        s.close()
    p.stdin.close()
    p.wait()
    text = open(out).read()
    os.unlink(out)
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    return int(m.group(1))

n = int(os.environ.get("ROUNDS", "300"))
a = run(n)
b = run(2 * n)
print(f"{kind}: {(b - a) / (n * CONNS):.0f} instructions per echo ({a} / {b})")
