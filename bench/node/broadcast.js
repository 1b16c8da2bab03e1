// The Node `ws` broadcast server of the benchmark suite, the same work as
// syncws's Hub server: subscribers connect to /sub and only listen; every
// message a publisher sends on /pub goes to every other client with the
// plain broadcast loop of ws's README.
//
//   node broadcast.js [--bind 127.0.0.1:0]
//
// Prints "listening HOST:PORT" once bound; exits when stdin closes (the
// suite holds it open), so it never outlives the suite.
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const i = process.argv.indexOf('--bind');
const bind = i > 0 ? process.argv[i + 1] : '127.0.0.1:0';
const [host, port] = [bind.slice(0, bind.lastIndexOf(':')), Number(bind.slice(bind.lastIndexOf(':') + 1))];

const wss = new WebSocketServer({ host, port, maxPayload: 64 << 20 });
wss.on('connection', (ws, req) => {
  if (req.url !== '/pub') return; // a subscriber: it only receives
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((c) => {
      if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
  });
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`listening ${a.address}:${a.port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
