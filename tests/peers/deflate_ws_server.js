// Node `ws` as a permessage-deflate echo server for a syncws client
// (tests/deflate_interop.rs), compressing every message (threshold 0).
//
// Usage: node deflate_ws_server.js
// Listens on 127.0.0.1, a port of the system's choosing, printed as
// "port N"; for each connection prints "extensions <the negotiated
// extensions>". Stops when its standard input closes (or it is killed).
'use strict';

const { WebSocketServer } = require('ws');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 0 },
  maxPayload: 32 << 20,
});
server.on('listening', () => console.log('port', server.address().port));
server.on('connection', (ws) => {
  console.log('extensions', ws.extensions);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
