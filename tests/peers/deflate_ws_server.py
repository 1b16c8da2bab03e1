"""Python `websockets` as a permessage-deflate server for a syncws client.

Usage: deflate_ws_server.py VARIANT, VARIANT one of
  default       websockets' own default (compression="deflate")
  window10      server_max_window_bits=10
  no_takeover   server_no_context_takeover and client_no_context_takeover
An echo server on 127.0.0.1, a port of the system's choosing, printed as
"port N" once it listens; for each connection it prints "extensions <its
Sec-WebSocket-Extensions answer>" and "agreed <websockets' view of it>".
It stops when its standard input closes (or it is killed).
"""

import sys
import threading

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import serve

VARIANTS = {
    "default": {"compression": "deflate"},
    "window10": {
        "compression": None,
        "extensions": [ServerPerMessageDeflateFactory(server_max_window_bits=10)],
    },
    "no_takeover": {
        "compression": None,
        "extensions": [
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=True, client_no_context_takeover=True
            )
        ],
    },
}


def echo(ws) -> None:
    print("extensions", ws.response.headers.get("Sec-WebSocket-Extensions"), flush=True)
    print("agreed", repr(ws.protocol.extensions), flush=True)
    for message in ws:
        ws.send(message)


def main() -> None:
    variant = sys.argv[1]
    with serve(echo, "127.0.0.1", 0, max_size=32 << 20, **VARIANTS[variant]) as server:
        port = server.socket.getsockname()[1]
        print(f"port {port}", flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()  # until the test closes our standard input
        server.shutdown()


if __name__ == "__main__":
    main()
