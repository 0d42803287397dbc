// A small HTTP service for the compose example: GET /work hashes for a while
// (CPU), GET /alloc?mb=N keeps N MiB for 30 s (memory), so the agent's
// numbers move when you poke it.
'use strict';
const http = require('node:http');
const crypto = require('node:crypto');

const port = Number(process.env.PORT || 3000);
const held = [];

const server = http.createServer((req, res) => {
  const url = new URL(req.url || '/', 'http://localhost');
  if (url.pathname === '/work') {
    const until = Date.now() + 200;
    let n = 0;
    while (Date.now() < until) {
      crypto.createHash('sha256').update(String(n++)).digest();
    }
    res.end(`hashed ${n} times\n`);
  } else if (url.pathname === '/alloc') {
    const mb = Math.min(Math.max(Number(url.searchParams.get('mb')) || 16, 1), 64);
    const buf = Buffer.alloc(mb * 1024 * 1024, 1);
    held.push(buf);
    setTimeout(() => held.splice(held.indexOf(buf), 1), 30_000);
    res.end(`holding ${mb} MiB for 30 s\n`);
  } else {
    res.end('try /work or /alloc?mb=32\n');
  }
});
server.listen(port, '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
