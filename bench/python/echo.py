"""The Python `websockets` echo server of the benchmark suite's compressed
rows: its asyncio server with its defaults, compression included
(permessage-deflate, window 12 both ways, memLevel 5, every message
compressed), every message echoed back as it came (text or binary).

    python echo.py [--bind 127.0.0.1:0]

Prints "listening HOST:PORT" once bound; exits when stdin closes (the suite
holds it open), so it never outlives the suite. Needs `websockets`
(`pip install websockets`; the suite looks for target/py-venv first, the
venv scripts/test-all.sh makes)."""
import asyncio
import os
import sys
import threading

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(64):
        pass
    os._exit(0)


async def main():
    bind = "127.0.0.1:0"
    if "--bind" in sys.argv:
        bind = sys.argv[sys.argv.index("--bind") + 1]
    host, port = bind.rsplit(":", 1)
    async with serve(echo, host, int(port), max_size=64 << 20) as server:
        addr = server.sockets[0].getsockname()
        print(f"listening {addr[0]}:{addr[1]}", flush=True)
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
        await asyncio.Future()


asyncio.run(main())
