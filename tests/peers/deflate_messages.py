"""The messages the permessage-deflate interop peers exchange with syncws
(tests/deflate_interop.rs), shared by deflate_ws_client.py and
deflate_ws_server.py: sizes below the threshold (32 bytes), a chat line, a
64 KiB JSON document and a compressible binary message."""


def json_document(size=64 << 10):
    items, total = [], 2
    i = 0
    while total < size:
        item = '{"id":%d,"name":"item %d","price":%d,"tags":["red","green"]}' % (i, i, i * 7 % 101)
        items.append(item)
        total += len(item) + 1
        i += 1
    return "[" + ",".join(items) + "]"


def messages():
    return [
        "hi",
        b"\x00\x01\xff",
        '{"type":"chat","user":"ada","text":"hello, room; héllo wörld"}',
        json_document(),
        bytes((i * 7) % 251 for i in range(256 << 10)),
    ]
