"""A client from another language against a syncws wss:// echo server.

Usage: python_wss_client.py URL CA_FILE
Uses the `websockets` package's blocking client. Exits non-zero on the first
difference, and prints "ok" when every check passed.
"""

import ssl
import sys

from websockets.sync.client import connect


def main() -> None:
    url, ca_file = sys.argv[1], sys.argv[2]
    context = ssl.create_default_context(cafile=ca_file)
    with connect(url, ssl=context, max_size=32 << 20, open_timeout=10, close_timeout=10) as ws:
        ws.send("héllo from Python")
        assert ws.recv(timeout=10) == "héllo from Python", "text"

        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=10) == b"\x00\x01\xff", "binary"

        # An iterable is sent as one fragmented message.
        ws.send(["frag", "men", "ted"])
        assert ws.recv(timeout=10) == "fragmented", "fragmented"

        big = bytes((i * 7 + i // 251) % 256 for i in range(16 << 20))
        ws.send(big)
        assert ws.recv(timeout=60) == big, "16 MiB binary"

        ws.close(code=4000, reason="from python")
        received = ws.protocol.close_rcvd
        assert received is not None and received.code == 4000, f"close echo: {received}"
    print("ok")


if __name__ == "__main__":
    main()
