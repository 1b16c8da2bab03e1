"""A Python `websockets` server on a Unix socket, for our `ws+unix:` client.

Usage: python_unix_server.py SOCKET_PATH

Greets each connection with "PATH HOST" (the resource and the Host header
it was opened with), then echoes every message. Prints "ready" once it
listens; runs until killed.
"""

import sys

from websockets.sync.server import unix_serve


def handler(ws):
    ws.send(f"{ws.request.path} {ws.request.headers['Host']}")
    for message in ws:
        ws.send(message)


with unix_serve(handler, sys.argv[1], max_size=None) as server:
    print("ready", flush=True)
    server.serve_forever()
