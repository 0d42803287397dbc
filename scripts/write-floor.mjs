// The least an agent running in Node pays per tick besides the kernel's
// reads: wake up once per interval (a timer), serialise the tick's payloads
// (JSON.stringify of each, as every agent publishing the JSON document must;
// given as a JSON array in PAYLOADS_FILE, optional), write one tick's Valkey
// commands (encoded once, read from stdin) on a plain socket and wait for all
// their replies; no collection and no client library. Run by the
// release's own Node with the release's V8 flags (scripts/write-floor.ts),
// beside write-floor.c, which does the same in C.
//
// CPU is the process's (process.cpuUsage: every thread, as the benches count
// the agent's) from the end of the warm-up ticks to the end of the last tick,
// so each tick's wake-up counts. Replies are counted by a small RESP scanner;
// error replies are counted and reported.
//
// Usage: node [flags] write-floor.mjs PORT INTERVAL_MS TICKS WARMUP REPLIES [PAYLOADS_FILE] < commands
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const argv = process.argv.slice(2);
const args = argv.slice(0, 5).map(Number);
const [port = 0, intervalMs = -1, ticks = 0, warmup = -1, replies = 0] = args;
if ((argv.length !== 5 && argv.length !== 6) || !(port > 0 && intervalMs >= 0 && ticks > 0 && warmup >= 0 && replies > 0)) {
  process.stderr.write('usage: node write-floor.mjs PORT INTERVAL_MS TICKS WARMUP REPLIES [PAYLOADS_FILE] < commands\n');
  process.exit(2);
}
/** @type {unknown[]} */
const payloads = argv[5] === undefined ? [] : JSON.parse(readFileSync(argv[5], 'utf8'));
if (!Array.isArray(payloads)) {
  process.stderr.write('write-floor: PAYLOADS_FILE must hold a JSON array\n');
  process.exit(2);
}
const commands = readFileSync(0);
if (commands.length === 0) {
  process.stderr.write('write-floor: no commands on stdin\n');
  process.exit(2);
}

/** Streaming RESP reply counter, the same rules as write-floor.c's. */
class Scanner {
  inLine = false;
  type = 0;
  num = 0;
  neg = false;
  skip = 0;
  left = [];
  replies = 0;
  errors = 0;

  elementDone() {
    while (this.left.length > 0) {
      const top = this.left.length - 1;
      this.left[top] -= 1;
      if (this.left[top] > 0) return;
      this.left.pop();
    }
    this.replies += 1;
  }

  /** @param {Buffer} bytes */
  scan(bytes) {
    for (const c of bytes) {
      if (this.skip > 0) {
        this.skip -= 1;
        if (this.skip === 0) this.elementDone();
        continue;
      }
      if (!this.inLine) {
        // + - : $ *
        if (c !== 0x2b && c !== 0x2d && c !== 0x3a && c !== 0x24 && c !== 0x2a) throw new Error('write-floor: the server\'s reply is not RESP');
        this.inLine = true;
        this.type = c;
        this.num = 0;
        this.neg = false;
        continue;
      }
      if (c === 0x0a) {
        this.inLine = false;
        const v = this.neg ? -this.num : this.num;
        if (this.type === 0x2d) this.errors += 1;
        if (this.type === 0x24 && v >= 0) this.skip = v + 2;
        else if (this.type === 0x2a && v > 0) this.left.push(v);
        else this.elementDone();
        continue;
      }
      if (this.type === 0x24 || this.type === 0x2a) {
        if (c === 0x2d) this.neg = true;
        else if (c >= 0x30 && c <= 0x39) this.num = this.num * 10 + (c - 0x30);
      }
    }
  }
}

const scanner = new Scanner();
const sock = connect({ port, host: '127.0.0.1', noDelay: true });
await new Promise((resolve, reject) => {
  sock.once('connect', resolve);
  sock.once('error', (err) => reject(new Error(`write-floor: cannot connect to 127.0.0.1:${port}: ${err.message}`)));
});
let want = 0;
let wake = null;
sock.on('data', (d) => {
  scanner.scan(d);
  if (scanner.replies >= want && wake !== null) {
    const w = wake;
    wake = null;
    w();
  }
});
sock.on('error', (err) => {
  process.stderr.write(`write-floor: the connection to 127.0.0.1:${port} failed: ${err.message}\n`);
  process.exit(1);
});
sock.on('close', () => {
  if (wake !== null) {
    process.stderr.write('write-floor: the server closed the connection\n');
    process.exit(1);
  }
});

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
let t0 = 0;
let jsonChars = 0;
for (let t = 0; t < warmup + ticks; t++) {
  if (t === warmup) t0 = cpuNs();
  if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  let serialised = 0;
  for (const p of payloads) serialised += JSON.stringify(p).length;
  jsonChars = serialised;
  want = scanner.replies + replies;
  await new Promise((r) => {
    wake = r;
    sock.write(commands);
  });
  if (scanner.replies !== want) {
    process.stderr.write(`write-floor: ${scanner.replies} replies where ${want} commands were sent\n`);
    process.exit(1);
  }
}
const spent = cpuNs() - t0;
sock.destroy();
process.stdout.write(
  `${JSON.stringify({ runtime: `node ${process.version} ${process.execArgv.join(' ')}`.trim(), ticks, interval_ms: intervalMs, bytes_per_tick: commands.length, replies_per_tick: replies, json_chars_per_tick: jsonChars, errors: scanner.errors, cpu_ns_per_tick: Math.round(spent / ticks) })}\n`,
);
