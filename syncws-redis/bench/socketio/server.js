// The Socket.IO side of syncws-redis's cluster benchmark: the same work as
// `cluster-bench --serve`. Every client joins the room "bench"; each "m"
// event a client emits goes to every member of the room on every server
// (the sender too, as syncws-redis's room does) through the Redis adapter
// (Redis pub/sub). Socket.IO's defaults otherwise, but the WebSocket
// transport only (the benchmark's clients speak Engine.IO v4 over it).
//
//   node server.js --bind 127.0.0.1:0 --redis redis://127.0.0.1:6379/
//
// Prints "listening on HOST:PORT" once bound, as cluster-chat does; exits
// when stdin closes (the benchmark holds it open), so it never outlives it.
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const bind = arg('--bind', '127.0.0.1:0');
  const url = arg('--redis', 'redis://127.0.0.1:6379/');
  const colon = bind.lastIndexOf(':');
  const [host, port] = [bind.slice(0, colon), Number(bind.slice(colon + 1))];
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'], adapter: createAdapter(pub, sub) });
  io.on('connection', (socket) => {
    socket.join('bench');
    socket.on('m', (data) => io.to('bench').emit('m', data));
  });
  server.listen(port, host, () => {
    const a = server.address();
    process.stdout.write(`listening on ${a.address}:${a.port}\n`);
  });
}

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
