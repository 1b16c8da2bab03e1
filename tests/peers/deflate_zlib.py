"""The permessage-deflate codec's independent peer: Python's zlib (C zlib).

Reads one case per line on stdin: window bits, context takeover (0 or 1),
then the hex payloads syncws compressed. Writes one line per case: the
messages zlib inflated from them, then the payloads zlib compressed from
those messages, hex, each list joined by commas, the two lists separated by
a space. Payloads follow RFC 7692 7.2: raw deflate, sync flush, the tail
00 00 ff ff removed by the compressor and appended by the decompressor.
"""
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"

for line in sys.stdin:
    bits, takeover, payloads = line.split(" ")
    bits, takeover = int(bits), takeover == "1"
    payloads = [bytes.fromhex(p) for p in payloads.strip().split(",")]
    inflater = zlib.decompressobj(-bits)
    # zlib refuses a raw 8-bit window when compressing: 9 reaches back
    # at most 250 bytes, valid for an 8-bit inflater.
    deflater = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
    messages, compressed = [], []
    for payload in payloads:
        if not takeover:
            inflater = zlib.decompressobj(-bits)
        message = inflater.decompress(payload + TAIL)
        messages.append(message)
        if not takeover:
            deflater = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
        out = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL), out
        compressed.append(out[:-4])
    print(",".join(m.hex() for m in messages), ",".join(c.hex() for c in compressed))
    sys.stdout.flush()
