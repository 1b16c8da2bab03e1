// The messages the Node `ws` peers exchange with syncws
// (tests/deflate_interop.rs): the same as deflate_messages.py.
'use strict';

function jsonDocument(size = 64 << 10) {
  const items = [];
  let total = 2;
  for (let i = 0; total < size; i++) {
    const item = `{"id":${i},"name":"item ${i}","price":${(i * 7) % 101},"tags":["red","green"]}`;
    items.push(item);
    total += item.length + 1;
  }
  return '[' + items.join(',') + ']';
}

function messages() {
  const binary = Buffer.alloc(256 << 10);
  for (let i = 0; i < binary.length; i++) binary[i] = (i * 7) % 251;
  return [
    'hi',
    Buffer.from([0, 1, 255]),
    '{"type":"chat","user":"ada","text":"hello, room; héllo wörld"}',
    jsonDocument(),
    binary,
  ];
}

module.exports = { jsonDocument, messages };
