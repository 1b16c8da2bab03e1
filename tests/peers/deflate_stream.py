"""An independent inflater for one connection's compressed messages: Python's
zlib (C zlib), one raw-deflate stream for the whole connection (context
takeover), as a browser keeps it.

Reads one line: the window bits, then the payloads of the connection's
compressed messages in the order they arrived, hex, joined by commas.
Writes one line: the messages inflated, hex, joined by commas. RFC 7692
7.2.2: the tail 00 00 ff ff is appended to each payload before inflating.
"""
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"

bits, payloads = sys.stdin.readline().split(" ")
inflater = zlib.decompressobj(-int(bits))
messages = [inflater.decompress(bytes.fromhex(p) + TAIL) for p in payloads.strip().split(",")]
print(",".join(m.hex() for m in messages))
