#!/usr/bin/env python3
"""Writes the committed seed corpus, fuzz/corpus/<target>/seed-*.

Run from anywhere: python3 fuzz/make_seeds.py. It only (re)writes seed-*
files; what libFuzzer added to the corpus directories is left alone.
The input layouts are described at the top of each fuzz_targets/*.rs.
"""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # the masking key of RFC 6455 §5.7


def frame(opcode, payload, fin=True, mask=None, rsv=0):
    """One frame, length minimally encoded, masked if a key is given."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    m = 0x80 if mask else 0
    n = len(payload)
    if n <= 125:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close(code, reason=b"", mask=None):
    return frame(0x8, struct.pack(">H", code) + reason, mask=mask)


def receiver_input(stream, client, chunks=(), push=None, tiny=False):
    """The receiver target's layout: flags, chunk sizes, push length, stream."""
    flags = (1 if client else 0) | (2 if push is not None else 0) | (4 if tiny else 0)
    out = bytes([flags, len(chunks)])
    for c in chunks:
        out += struct.pack("<H", c)
    if push is not None:
        out += struct.pack("<H", push)
    return out + stream


def utf8_input(text, sizes):
    assert 1 <= len(sizes) <= 8
    return bytes([len(sizes) - 1]) + bytes(sizes) + text


def http(*lines, body=b""):
    return "".join(line + "\r\n" for line in lines).encode() + b"\r\n" + body


RFC_HELLO = bytes([0x81, 0x05]) + b"Hello"
RFC_HELLO_MASKED = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
RFC_FRAG_1 = bytes([0x01, 0x03]) + b"Hel"
RFC_FRAG_2 = bytes([0x80, 0x02]) + b"lo"
RFC_PING = bytes([0x89, 0x05]) + b"Hello"
RFC_PONG_MASKED = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
# Autobahn 6.x: "κόσμε" then a UTF-16 surrogate (ED A0 80), then "edited".
INVALID_UTF8 = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080") + b"edited"
MIXED_UTF8 = "é€𝄞 κόσμε ü".encode()

seeds = {}

# --- frame_decoder: bytes straight into FrameHeader::parse -------------------
seeds["frame_decoder"] = {
    "seed-rfc-hello": RFC_HELLO,
    "seed-rfc-hello-masked": RFC_HELLO_MASKED,
    "seed-rfc-fragment-first": RFC_FRAG_1,
    "seed-rfc-fragment-last": RFC_FRAG_2,
    "seed-rfc-ping": RFC_PING,
    "seed-rfc-pong-masked": RFC_PONG_MASKED,
    "seed-rfc-256-binary-header": bytes([0x82, 0x7E, 0x01, 0x00]),
    "seed-rfc-64k-binary-header": bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
    "seed-masked-300": frame(0x2, bytes(range(256)) + bytes(44), mask=KEY)[:12],
    "seed-close-1000-reason": close(1000, b"normal closure"),
    "seed-len16-non-minimal": bytes([0x82, 0x7E, 0x00, 0x05]) + b"Hello",
    "seed-len64-non-minimal-masked": bytes([0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5]) + KEY,
    "seed-len64-top-bit": bytes([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
    "seed-len64-max": bytes([0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
    "seed-reserved-opcode": bytes([0x83, 0x00]),
    "seed-rsv-bits": bytes([0xF1, 0x00]),
    "seed-fragmented-ping": bytes([0x09, 0x00]),
    "seed-control-too-long": bytes([0x88, 0x7E, 0x00, 0x7E]),
}

# --- receiver: flags, chunk sizes, push length, then the peer's bytes --------
fragmented = RFC_FRAG_1 + RFC_PING + RFC_FRAG_2
fragmented_masked = (
    frame(0x1, b"Hel", fin=False, mask=KEY)
    + frame(0x9, b"ping", mask=KEY)
    + frame(0x0, b"lo", mask=KEY)
)
masked_300 = frame(0x2, bytes(range(256)) + bytes(range(44)), mask=KEY)
big_text = (MIXED_UTF8 * (70000 // len(MIXED_UTF8) + 1))[:70000]
while True:  # end on a character boundary
    try:
        big_text.decode()
        break
    except UnicodeDecodeError:
        big_text = big_text[:-1]
seeds["receiver"] = {
    "seed-client-rfc-hello": receiver_input(RFC_HELLO + close(1000), client=True),
    "seed-server-rfc-hello-masked": receiver_input(RFC_HELLO_MASKED + RFC_PONG_MASKED, client=False),
    "seed-client-rfc-fragmented-ping-in-middle": receiver_input(fragmented, client=True, chunks=[1, 3, 0]),
    "seed-server-fragmented-ping-in-middle": receiver_input(fragmented_masked, client=False, chunks=[2]),
    "seed-server-masked-300": receiver_input(
        masked_300 + close(1000, b"bye", mask=KEY), client=False, chunks=[7, 100]
    ),
    "seed-client-invalid-utf8": receiver_input(frame(0x1, INVALID_UTF8), client=True),
    "seed-server-invalid-utf8-fragmented": receiver_input(
        frame(0x1, INVALID_UTF8[:5], fin=False, mask=KEY) + frame(0x0, INVALID_UTF8[5:], mask=KEY),
        client=False,
        chunks=[1],
    ),
    "seed-client-close-1000-reason": receiver_input(close(1000, b"normal closure"), client=True),
    "seed-server-close-1000-reason-masked": receiver_input(
        close(1000, "fin ✓".encode(), mask=KEY), client=False, chunks=[3, 0]
    ),
    "seed-client-close-empty": receiver_input(frame(0x8, b""), client=True),
    "seed-client-close-1005-refused": receiver_input(close(1005), client=True),
    "seed-client-close-one-byte": receiver_input(frame(0x8, b"\x03"), client=True),
    "seed-client-push-leftover": receiver_input(RFC_HELLO + frame(0xA, b"pong"), client=True, push=4),
    "seed-client-tiny-limits": receiver_input(
        frame(0x2, bytes(150), fin=False) + frame(0x0, bytes(150), fin=False) + frame(0x0, bytes(200)),
        client=True,
        tiny=True,
    ),
    "seed-client-frame-too-long": receiver_input(frame(0x2, bytes(300)), client=True, tiny=True),
    "seed-server-unmasked-refused": receiver_input(RFC_HELLO, client=False),
    "seed-client-masked-refused": receiver_input(RFC_HELLO_MASKED, client=True),
    "seed-client-continuation-first": receiver_input(RFC_FRAG_2, client=True),
    "seed-client-text-inside-text": receiver_input(RFC_FRAG_1 + RFC_HELLO, client=True),
    "seed-client-rsv-bits": receiver_input(frame(0x1, b"x", rsv=4), client=True),
    "seed-server-big-text-direct": receiver_input(
        frame(0x1, big_text, mask=KEY) + close(1000, mask=KEY), client=False, chunks=[0xFFFF]
    ),
    "seed-client-binary-direct-reads": receiver_input(
        frame(0x2, bytes(i % 251 for i in range(10000)), fin=False)
        + RFC_PING
        + frame(0x0, bytes(5000)),
        client=True,
        chunks=[1000, 0, 4096, 13],
    ),
    "seed-client-many-small-frames": receiver_input(RFC_HELLO * 2000, client=True, chunks=[0xFFFF]),
}

# --- utf8: number of piece sizes - 1, the sizes, then the text ---------------
seeds["utf8"] = {
    "seed-kosme": utf8_input("κόσμε".encode(), [1]),
    "seed-mixed-cut-everywhere": utf8_input("€ and 𝄞 and ü".encode(), [1, 2, 3]),
    "seed-surrogate": utf8_input(INVALID_UTF8, [2]),
    "seed-above-max": utf8_input(bytes.fromhex("f4908080"), [1]),
    "seed-overlong-2": utf8_input(bytes.fromhex("c0af"), [1]),
    "seed-overlong-3": utf8_input(bytes.fromhex("e080af"), [2, 1]),
    "seed-truncated-at-end": utf8_input(bytes.fromhex("f09f98"), [1]),
    "seed-invalid-ff": utf8_input(b"ab\xff", [2]),
    "seed-4-byte-split": utf8_input(bytes.fromhex("f09f9880"), [3, 1]),
    "seed-lone-continuation": utf8_input(b"\x80", [1]),
    "seed-long-mixed": utf8_input(MIXED_UTF8 * 40, [7, 0, 13]),
}

# --- handshake_request: an HTTP request head (and what follows it) ----------
RFC_REQUEST_LINES = [
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
]


def request_with(replace, line):
    lines = list(RFC_REQUEST_LINES)
    for i, old in enumerate(lines):
        if old.startswith(replace):
            if line is None:
                del lines[i]
            else:
                lines[i] = line
            break
    else:
        lines.insert(-1, line)
    return http(*lines)


seeds["handshake_request"] = {
    "seed-rfc-1.2-request": http(*RFC_REQUEST_LINES),
    "seed-rfc-request-then-frame": http(*RFC_REQUEST_LINES) + RFC_HELLO_MASKED,
    "seed-post-405": request_with("GET", "POST /chat HTTP/1.1"),
    "seed-http-1.0-400": request_with("GET", "GET /chat HTTP/1.0"),
    "seed-version-8-426": request_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"),
    "seed-no-version-400": request_with("Sec-WebSocket-Version", None),
    "seed-no-key-400": request_with("Sec-WebSocket-Key", None),
    "seed-short-key-400": request_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: c2hvcnQ="),
    "seed-repeated-host-400": request_with("Origin", "Host: other.example.com"),
    "seed-browser-request": http(
        "GET /ws/room?id=7&x=%20y HTTP/1.1",
        "Host: localhost:9001",
        "Connection: keep-alive, Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
        "Upgrade: websocket",
        "Origin: http://localhost:8080",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br",
        "Accept-Language: en-US,en;q=0.9",
        "Cookie: session=abc123; theme=dark",
        "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ),
    "seed-bare-lf": b"GET / HTTP/1.1\nHost: a\nUpgrade: websocket\nConnection: upgrade\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\n",
    "seed-incomplete": http(*RFC_REQUEST_LINES)[:-3],
    "seed-non-utf8-value": http("GET / HTTP/1.1", "Host: a", "X-Bytes: caf\xe9").replace(b"\xc3\xa9", b"\xe9"),
}

# --- handshake_response: an HTTP response head (and what follows it) --------
RFC_RESPONSE_LINES = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    "Sec-WebSocket-Protocol: chat",
]
refusal_body = b"unsupported Sec-WebSocket-Version (only 13)"
seeds["handshake_response"] = {
    "seed-rfc-1.3-response": http(*RFC_RESPONSE_LINES),
    "seed-rfc-response-then-frame": http(*RFC_RESPONSE_LINES) + RFC_HELLO,
    "seed-no-protocol": http(*RFC_RESPONSE_LINES[:-1]),
    "seed-426-refusal": http(
        "HTTP/1.1 426 Upgrade Required",
        "Content-Type: text/plain; charset=utf-8",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        f"Content-Length: {len(refusal_body)}",
        "Connection: close",
        body=refusal_body,
    ),
    "seed-403-with-body": http("HTTP/1.1 403 Forbidden", "Content-Length: 4", body=b"nope"),
    "seed-wrong-accept": http(*RFC_RESPONSE_LINES[:3], "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    "seed-repeated-accept": http(*RFC_RESPONSE_LINES, RFC_RESPONSE_LINES[3]),
    "seed-extension": http(*RFC_RESPONSE_LINES, "Sec-WebSocket-Extensions: permessage-deflate"),
    "seed-unoffered-protocol": http(*RFC_RESPONSE_LINES[:4], "Sec-WebSocket-Protocol: mqtt"),
    "seed-lowercase-tokens": http(
        "HTTP/1.1 101 Switching Protocols",
        "upgrade: WebSocket",
        "connection: keep-alive, upgrade",
        "sec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  ",
    ),
    "seed-incomplete": http(*RFC_RESPONSE_LINES)[:-1],
}


def extension_input(flags, windows, *lines):
    """The extension_header target's layout: config bytes, then the lines."""
    return bytes([flags, windows]) + "\n".join(lines).encode()


seeds["extension_header"] = {
    "seed-chrome": extension_input(0, 7, "permessage-deflate; client_max_window_bits"),
    "seed-firefox": extension_input(0, 7, "permessage-deflate"),
    "seed-every-param": extension_input(
        0x40 | 6 | (3 << 3),
        2,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=8; client_max_window_bits=8",
    ),
    "seed-declined-then-accepted": extension_input(
        0,
        7,
        "permessage-deflate; server_max_window_bits=16, x-webkit-deflate-frame",
        "permessage-deflate; client_max_window_bits=\"10\"; server_no_context_takeover",
    ),
    "seed-quoted-escapes": extension_input(0, 7, 'x; a="\\t\\o\\k"; b , , permessage-deflate;c'),
    "seed-response-limits": extension_input(
        0x40 | (2 << 3), 1, "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9"
    ),
    "seed-disabled": extension_input(1, 7, "permessage-deflate"),
    "seed-malformed": extension_input(0, 7, 'permessage-deflate; a="1 2"'),
}


# --- receiver_deflate: flags, agreement, chunk sizes, push length, stream ----


def deflate(payload, bits=15, keep=None):
    """A message compressed as RFC 7692 §7.2.1 says: raw deflate, flushed,
    the 00 00 ff ff tail removed. `keep` is a compressor to continue with
    (context takeover)."""
    c = keep or zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
    out = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def deflate_input(stream, client, bits=15, no_takeover=False, chunks=(), hibernate=False, tiny=False):
    """The receiver_deflate target's layout."""
    flags = (1 if client else 0) | (4 if tiny else 0) | (8 if hibernate else 0)
    agreement = (bits - 8) | (8 if no_takeover else 0)
    out = bytes([flags, agreement, len(chunks)])
    for c in chunks:
        out += struct.pack("<H", c)
    return out + stream


CHAT = b'{"user":"ada","text":"hello, hello, hello again","room":"general"}'
DOC = b"".join(b'{"id":%d,"name":"item %d","tags":["a","b","c"]},' % (i, i) for i in range(600))
_takeover = zlib.compressobj(6, zlib.DEFLATED, -15)
_first, _second = deflate(CHAT, keep=_takeover), deflate(CHAT, keep=_takeover)
_doc = deflate(DOC)
_zeros = deflate(b"\x00" * 200_000)
_mid = len(_doc) // 2
_final = zlib.compressobj(6, zlib.DEFLATED, -15)  # ends with a final block

seeds["receiver_deflate"] = {
    "seed-compressed-text-client": deflate_input(frame(0x1, deflate(CHAT), rsv=4), client=True),
    "seed-compressed-text-server": deflate_input(frame(0x1, deflate(CHAT), mask=KEY, rsv=4), client=False),
    "seed-context-takeover-hibernate": deflate_input(
        frame(0x1, _first, rsv=4) + frame(0x1, _second, rsv=4), client=True, chunks=(7, 0, 30), hibernate=True
    ),
    "seed-no-takeover-window-9": deflate_input(
        frame(0x2, deflate(CHAT, 9), rsv=4) + frame(0x2, deflate(CHAT, 9), rsv=4), client=True, bits=9, no_takeover=True
    ),
    "seed-fragmented-with-ping": deflate_input(
        frame(0x1, _doc[:_mid], fin=False, rsv=4) + frame(0x9, b"ping") + frame(0x0, _doc[_mid:]),
        client=True,
        chunks=(1000, 0, 3),
    ),
    "seed-uncompressed-beside": deflate_input(RFC_HELLO + frame(0x1, deflate(CHAT), rsv=4), client=True),
    "seed-zeros-200k": deflate_input(frame(0x2, _zeros, rsv=4), client=True),
    "seed-bomb-over-limit": deflate_input(frame(0x2, deflate(b"\x00" * 600), rsv=4), client=True, tiny=True),
    "seed-rsv1-continuation": deflate_input(
        frame(0x1, _doc[:_mid], fin=False, rsv=4) + frame(0x0, _doc[_mid:], rsv=4), client=True
    ),
    "seed-rsv1-ping": deflate_input(frame(0x9, b"x", rsv=4), client=True),
    "seed-rsv2": deflate_input(frame(0x1, CHAT, rsv=2), client=True),
    "seed-invalid-deflate": deflate_input(frame(0x1, b"\xff\xff\xff\xff", rsv=4), client=True),
    "seed-invalid-utf8": deflate_input(frame(0x1, deflate(b"\xed\xa0\x80"), rsv=4), client=True),
    "seed-final-block": deflate_input(
        frame(0x1, _final.compress(CHAT) + _final.flush(zlib.Z_FINISH), rsv=4),
        client=True,
    ),
    "seed-close": deflate_input(frame(0x1, deflate(CHAT), rsv=4) + close(1000, b"bye"), client=True),
}


def main():
    for target, files in seeds.items():
        directory = os.path.join(HERE, "corpus", target)
        os.makedirs(directory, exist_ok=True)
        for name, data in files.items():
            assert name.startswith("seed-")
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds")


if __name__ == "__main__":
    main()
