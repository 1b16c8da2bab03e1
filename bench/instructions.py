#!/usr/bin/env python3
"""Instructions a benchmark server spends per 32-byte echo, counted by
callgrind (repeatable on a noisy machine, unlike time): the server of
`syncws-bench serve KIND` under valgrind, 64 connections interleaved, two
runs of N and 2N rounds; the difference divided by N x 64 leaves out the
start, the handshakes and the end.

    cargo build --release --manifest-path bench/Cargo.toml
    python3 bench/instructions.py bench/target/release/syncws-bench [syncws|tungstenite|raw]

`... syncws-deflate chat` counts a compressed chat round trip instead (and
`... syncws-deflate doc` a 64 KiB JSON document, 4 connections): a
~220-byte JSON message, different each time, compressed by the client with
Python's zlib (window 15, context takeover, as a browser does) and echoed
compressed by the server; it then lists the functions where the server's
instructions per round trip go (callgrind's self cost, the difference of
the two runs).

ROUNDS (default 300) sets N. Needs valgrind and Python 3."""
import os, socket, struct, subprocess, sys, re, tempfile, zlib

binary = sys.argv[1]
kind = sys.argv[2] if len(sys.argv) > 2 else "syncws"
MODE = sys.argv[3] if len(sys.argv) > 3 else "echo"
CHAT = MODE in ("chat", "doc")
# A 64 KiB document costs some 5,000 times a 32-byte echo: fewer connections.
CONNS = 4 if MODE == "doc" else 64
PAYLOAD = b"x" * 32

def chat(conn, i):
    return (f'{{"type":"message","room":"general","id":{i},"conn":{conn},"user":{{"id":{i % 7},'
            f'"name":"user{i % 7}","avatar":"/img/u{i % 7}.png"}},"text":"message number {i} says '
            f'hello to everyone in the room, how are you all today?","ts":{1700000000 + i * 37}}}').encode()

def document(conn, i):
    items = []
    n = 0
    size = 0
    while size < 65536 - 200:
        item = (f'{{"id":{n},"name":"item {n}","price":{n * 13 % 997}.{n % 100:02},'
                f'"tags":["t{n % 11}","t{n % 17}"],"in_stock":{"true" if n % 3 == 0 else "false"}}},')
        items.append(item)
        size += len(item)
        n += 1
    return (f'{{"seq":{i},"conn":{conn},"items":[' + "".join(items) + "{}]}").encode()

def compressed_frame(compressor, payload):
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    data = data[:-4]
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    n = len(data)
    if n < 126:
        head = bytes([0xc1, 0x80 | n])
    elif n < 65536:
        head = bytes([0xc1, 0xfe]) + struct.pack(">H", n)
    else:
        head = bytes([0xc1, 0xff]) + struct.pack(">Q", n)
    return head + mask + masked

def read_frame(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return b0, recv_exact(s, n)

def function_costs(text):
    """Self cost per function, from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", text],
                         capture_output=True, text=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*?)(\s+\[.*\])?$", line)
        if m and "(" not in m.group(2).split(":")[-1][:1]:
            name = m.group(2).split(":", 1)[-1]
            if name.endswith("x)"):
                continue  # a call count line
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs

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
    offer = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if CHAT else b""
    for _ in range(CONNS):
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  + offer + b"\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        if CHAT and b"permessage-deflate" not in head:
            raise SystemExit("the server declined permessage-deflate")
        socks.append(s)
    if CHAT:
        compressors = [zlib.compressobj(6, zlib.DEFLATED, -15, 8) for _ in socks]
        decompressors = [zlib.decompressobj(-15) for _ in socks]
        for r in range(rounds):
            sent = []
            for c, s in enumerate(socks):
                message = document(c, r) if MODE == "doc" else chat(c, r)
                sent.append(message)
                s.sendall(compressed_frame(compressors[c], message))
            for c, s in enumerate(socks):
                b0, data = read_frame(s)
                got = decompressors[c].decompress(data + b"\x00\x00\xff\xff")
                assert b0 & 0x40 and got == sent[c], (b0, got, sent[c])
    else:
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
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    costs = function_costs(out) if CHAT else {}
    os.unlink(out)
    return int(m.group(1)), costs

n = int(os.environ.get("ROUNDS", "300"))
a, costs_a = run(n)
b, costs_b = run(2 * n)
what = {"chat": "chat round trip", "doc": "64 KiB document round trip"}.get(MODE, "echo")
print(f"{kind}: {(b - a) / (n * CONNS):.0f} instructions per {what} ({a} / {b})")
if CHAT:
    per = {k: (costs_b.get(k, 0) - costs_a.get(k, 0)) / (n * CONNS) for k in set(costs_a) | set(costs_b)}
    for name, cost in sorted(per.items(), key=lambda kv: -kv[1])[:30]:
        if cost >= 100:
            print(f"{cost:9.0f}  {name[:140]}")
