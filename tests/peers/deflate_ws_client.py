"""Python `websockets` as a permessage-deflate client of a syncws server.

Usage: deflate_ws_client.py URL VARIANT, VARIANT one of
  default       websockets' own default (compression="deflate")
  window10      offers client_max_window_bits=10
  no_takeover   offers server_no_context_takeover and client_no_context_takeover
Sends deflate_messages.messages() and checks each echo, then asks for the
JSON document again ("frames": the server sends it back in fragments).
Prints "extensions <the server's Sec-WebSocket-Extensions>", "agreed
<websockets' view of it>", "payload <bytes sent>" and finally "ok"; exits
non-zero on the first difference.
"""

import sys

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from deflate_messages import json_document, messages

VARIANTS = {
    "default": {"compression": "deflate"},
    "window10": {
        "compression": None,
        "extensions": [ClientPerMessageDeflateFactory(client_max_window_bits=10)],
    },
    "no_takeover": {
        "compression": None,
        "extensions": [
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True, client_no_context_takeover=True
            )
        ],
    },
}


def main() -> None:
    url, variant = sys.argv[1], sys.argv[2]
    with connect(url, max_size=32 << 20, open_timeout=10, close_timeout=10, **VARIANTS[variant]) as ws:
        print("extensions", ws.response.headers.get("Sec-WebSocket-Extensions"), flush=True)
        print("agreed", repr(ws.protocol.extensions), flush=True)
        assert ws.protocol.extensions, "permessage-deflate was not negotiated"
        payload = 0
        for message in messages():
            ws.send(message)
            payload += len(message.encode() if isinstance(message, str) else message)
            echo = ws.recv(timeout=30)
            assert echo == message, f"echo of a message of {len(message)}: {len(echo)}"
        ws.send("frames")
        document = json_document()
        assert ws.recv(timeout=30) == document, "the fragmented document"
        payload += len(document)
        print("payload", payload, flush=True)
        ws.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
