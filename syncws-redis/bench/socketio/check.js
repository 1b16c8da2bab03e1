// Checks, with Socket.IO's own client (socket.io-client), that two
// Socket.IO servers (server.js) on one Redis deliver a room's message
// across servers, both ways: the setup that cluster-bench then measures
// with its own client. Run by cluster-bench before it measures.
//
//   node check.js --redis redis://127.0.0.1:PORT/
//
// Exits 0 when both messages arrived within 10 s, 1 otherwise; kills the
// servers it started either way.
'use strict';
const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');
const { io } = require('socket.io-client');

const i = process.argv.indexOf('--redis');
const redis = i > 0 ? process.argv[i + 1] : 'redis://127.0.0.1:6379/';
const servers = [];

function start() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), '--bind', '127.0.0.1:0', '--redis', redis], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    servers.push(child);
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      if (line.startsWith('listening on ')) resolve(line.slice('listening on '.length));
      else reject(new Error(`server said ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

function connect(addr) {
  return new Promise((resolve, reject) => {
    const socket = io(`http://${addr}`, { transports: ['websocket'], reconnection: false });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

function arrival(socket, text) {
  return new Promise((resolve) => socket.on('m', (data) => data === text && resolve()));
}

async function main() {
  const [a, b] = await Promise.all([start(), start()]);
  const [alice, bob] = await Promise.all([connect(a), connect(b)]);
  // A join takes effect on the server once the connection is set up; the
  // adapter's subscription is in place before the server listens.
  const toBob = arrival(bob, 'from alice');
  const toAlice = arrival(alice, 'from bob');
  alice.emit('m', 'from alice');
  bob.emit('m', 'from bob');
  await Promise.all([toBob, toAlice]);
  alice.close();
  bob.close();
  console.log('check.js: Socket.IO delivers across servers (socket.io-client)');
}

const timer = setTimeout(() => {
  console.error('check.js: no delivery within 10 s');
  finish(1);
}, 10000);

function finish(code) {
  clearTimeout(timer);
  for (const child of servers) child.kill('SIGKILL');
  process.exit(code);
}

main().then(
  () => finish(0),
  (e) => {
    console.error(`check.js: ${e.message}`);
    finish(1);
  },
);
