// Node `ws` as a permessage-deflate client of a syncws server
// (tests/deflate_interop.rs), compressing every message (threshold 0).
//
// Usage: node deflate_ws_client.js URL
// Sends deflate_messages.messages() and checks each echo, then asks for
// the JSON document again ("frames": the server sends it in fragments).
// Prints "extensions <the negotiated extensions>", "payload <bytes sent>"
// and finally "ok"; exits non-zero on the first difference.
'use strict';

const WebSocket = require('ws');
const { jsonDocument, messages } = require('./deflate_messages.js');

const ws = new WebSocket(process.argv[2], {
  perMessageDeflate: { threshold: 0 },
  maxPayload: 32 << 20,
  handshakeTimeout: 10000,
});
const received = [];
let wake = null;
ws.on('message', (data, isBinary) => {
  received.push(isBinary ? data : data.toString('utf8'));
  if (wake) wake();
});
ws.on('error', (e) => fail(`error: ${e.message}`));

function fail(why) {
  console.error(why);
  process.exit(1);
}

function next() {
  if (received.length) return Promise.resolve(received.shift());
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail('no message within 30 s'), 30000);
    wake = () => {
      wake = null;
      clearTimeout(timer);
      resolve(received.shift());
    };
  });
}

function same(a, b) {
  return Buffer.isBuffer(a) ? Buffer.isBuffer(b) && a.equals(b) : a === b;
}

ws.on('open', async () => {
  console.log('extensions', ws.extensions);
  if (!ws.extensions.includes('permessage-deflate')) fail('permessage-deflate was not negotiated');
  let payload = 0;
  for (const message of messages()) {
    ws.send(message);
    payload += Buffer.byteLength(message);
    const echo = await next();
    if (!same(echo, message)) fail(`echo of a message of ${Buffer.byteLength(message)} bytes differs`);
  }
  ws.send('frames');
  const document = jsonDocument();
  if ((await next()) !== document) fail('the fragmented document differs');
  payload += document.length;
  console.log('payload', payload);
  ws.on('close', () => {
    console.log('ok');
    process.exit(0);
  });
  ws.close(1000);
});
