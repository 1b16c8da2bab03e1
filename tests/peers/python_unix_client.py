"""A Python `websockets` client on a Unix socket, for our Unix-socket server.

Usage: python_unix_client.py SOCKET_PATH URI

Expects the server's greeting (the resource it saw and the peer's address),
then an echo of a text and a binary message. Prints "ok" when all matched.
"""

import sys

from websockets.sync.client import unix_connect

path, uri = sys.argv[1], sys.argv[2]
with unix_connect(path, uri, max_size=None, open_timeout=10) as ws:
    greeting = ws.recv(timeout=10)
    assert greeting == "/chat?room=1 unix:(unnamed)", greeting
    ws.send("hello from Python")
    assert ws.recv(timeout=10) == "hello from Python"
    data = bytes(range(256)) * 2048
    ws.send(data)
    assert ws.recv(timeout=10) == data
    ws.close(1000, "done")
    assert ws.close_code == 1000, ws.close_code
print("ok")
