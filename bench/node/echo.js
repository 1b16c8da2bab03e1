// The Node `ws` echo server of the benchmark suite's compressed rows:
// permessage-deflate on with ws's own defaults (`perMessageDeflate: true`:
// window 15 and context takeover both ways, zlib level and memory level
// Node's defaults, messages under 1,024 bytes sent uncompressed, at most 10
// zlib jobs at once), every message echoed back as it came (text or binary).
//
//   node echo.js [--bind 127.0.0.1:0]
//
// Prints "listening HOST:PORT" once bound; exits when stdin closes (the
// suite holds it open), so it never outlives the suite.
'use strict';
const { WebSocketServer } = require('ws');

const i = process.argv.indexOf('--bind');
const bind = i > 0 ? process.argv[i + 1] : '127.0.0.1:0';
const [host, port] = [bind.slice(0, bind.lastIndexOf(':')), Number(bind.slice(bind.lastIndexOf(':') + 1))];

const wss = new WebSocketServer({ host, port, maxPayload: 64 << 20, perMessageDeflate: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`listening ${a.address}:${a.port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
