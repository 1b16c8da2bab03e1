"""A server from another language for a syncws wss:// client.

Usage: python_wss_server.py CERT_FILE KEY_FILE
Uses the `websockets` package's blocking server: an echo server on
127.0.0.1, a port of the system's choosing, printed as "port N" once it
listens. It stops when its standard input closes (or it is killed).
"""

import ssl
import sys
import threading

from websockets.sync.server import serve


def echo(ws) -> None:
    for message in ws:
        ws.send(message)


def main() -> None:
    cert_file, key_file = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with serve(echo, "127.0.0.1", 0, ssl=context, max_size=32 << 20) as server:
        port = server.socket.getsockname()[1]
        print(f"port {port}", flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        # Until the test closes our standard input.
        sys.stdin.read()
        server.shutdown()


if __name__ == "__main__":
    main()
