/**
 * `npm run bench:history [requests] [fields]`: latency of
 * `GET /api/v1/containers/:name/history` for one container over every range
 * the dashboard offers (15 m and 1 h raw, 6 h and 24 h at 1 m, 7 d at 5 m;
 * every field, or the comma list `fields`, e.g. the dashboard's), from the aggregator as shipped (the esbuild bundle) against a
 * local redis-server holding 7 days of that container's history
 * (scripts/history-sim.ts, the data scripts/history-cost.ts measures).
 *
 * Peer in the same run: a plain node:http server in its own process answering
 * each range with the same bytes the aggregator gave (what serving the answer
 * costs with no Valkey read, decoding or JSON). Requests alternate between the
 * two, one at a time, timed by node:http from request to last byte.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { CONTAINERS_KEY, metricsKey } from '../shared/src/keys.js';
import { fixtureSample } from './fixture-sample.js';
import { simulateHistory } from './history-sim.js';

const REPO = join(import.meta.dirname, '..');
const NAME = 'hist-1';
const RANGES = [
  { id: '15m', query: 'since=-15m&resolution=raw' },
  { id: '1h', query: 'since=-1h&resolution=raw' },
  { id: '6h', query: 'since=-6h&resolution=1m' },
  { id: '24h', query: 'since=-24h&resolution=1m' },
  { id: '7d', query: 'since=-7d&resolution=5m' },
] as const;

/** The peer: serves `/<id>` from files named in argv, keep-alive, nothing else. */
const PEER = `
const http = require('node:http');
const fs = require('node:fs');
const bodies = new Map(JSON.parse(process.argv[1]).map(([id, file]) => [id, fs.readFileSync(file)]));
http.createServer((req, res) => {
  const b = bodies.get(req.url.slice(1));
  if (b === undefined) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': b.length });
  res.end(b);
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function timedGet(url: string): Promise<{ ms: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: status ${res.statusCode ?? '?'}: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
        else resolve({ ms, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN) * 10) / 10;
}

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 300);
  const fields = process.argv[3] === undefined ? '' : `&fields=${encodeURIComponent(process.argv[3])}`;
  const built = spawnSync(process.execPath, ['scripts/build.mjs', '--no-sea'], { cwd: REPO, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  const server = new RedisServer(await freePort());
  await server.start();
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  const end = Math.floor(Date.now() / 60_000) * 60_000;
  await simulateHistory(redis, NAME, 7, end);
  const tpl = await fixtureSample(NAME);
  await redis.set(metricsKey(NAME), JSON.stringify({ ...tpl, timestamp: new Date().toISOString() }), 'EX', 3600);
  await redis.zadd(CONTAINERS_KEY, Date.now(), NAME);

  const aggPort = await freePort();
  const agg = spawn(process.execPath, [join(REPO, 'dist/aggregator.cjs')], {
    env: { PATH: process.env.PATH ?? '', PORT: String(aggPort), VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'warn', INTERVAL_SECONDS: '5' },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${aggPort}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-history-'));
  let peer: ReturnType<typeof spawn> | null = null;
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/api/v1/containers/${NAME}`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (i > 300) throw new Error('the aggregator did not list the container within 30 s');
      await sleep(100);
    }
    const files: [string, string][] = [];
    const info: Record<string, { bytes: number; points: number }> = {};
    for (const r of RANGES) {
      const { body } = await timedGet(`${base}/api/v1/containers/${NAME}/history?${r.query}${fields}`);
      const file = join(dir, `${r.id}.json`);
      writeFileSync(file, body);
      files.push([r.id, file]);
      info[r.id] = { bytes: body.length, points: (JSON.parse(body.toString()) as { points: unknown[] }).points.length };
    }
    const peerPort = await freePort();
    const p = spawn(process.execPath, ['-e', PEER, JSON.stringify(files), String(peerPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    peer = p;
    await new Promise<void>((resolve) => {
      p.stdout.once('data', () => {
        resolve();
      });
    });
    const times: Record<string, { agg: number[]; peer: number[] }> = Object.fromEntries(RANGES.map((r) => [r.id, { agg: [], peer: [] }]));
    // Warm-up: both servers' code paths compiled before timing.
    for (let i = 0; i < 20; i++) for (const r of RANGES) await timedGet(`${base}/api/v1/containers/${NAME}/history?${r.query}${fields}`);
    for (let i = 0; i < requests; i++) {
      for (const r of RANGES) {
        const t = times[r.id];
        if (t === undefined) continue;
        t.agg.push((await timedGet(`${base}/api/v1/containers/${NAME}/history?${r.query}${fields}`)).ms);
        t.peer.push((await timedGet(`http://127.0.0.1:${peerPort}/${r.id}`)).ms);
      }
    }
    const rows = RANGES.map((r) => {
      const t = times[r.id] ?? { agg: [], peer: [] };
      const a99 = pct(t.agg, 99);
      const p99 = pct(t.peer, 99);
      return { range: r.id, query: r.query, ...info[r.id], agg_p50_ms: pct(t.agg, 50), agg_p99_ms: a99, agg_max_ms: pct(t.agg, 100), peer_p50_ms: pct(t.peer, 50), peer_p99_ms: p99, p99_ratio: Math.round((a99 / p99) * 10) / 10 };
    });
    const load = readFileSync('/proc/loadavg', 'utf8').trim();
    process.stdout.write(`${JSON.stringify({ requests_per_range: requests, fields: process.argv[3] ?? 'all', node: process.version, loadavg: load, rows }, null, 2)}\n`);
  } finally {
    peer?.kill();
    agg.kill();
    rmSync(dir, { recursive: true, force: true });
    redis.disconnect();
    await server.stop();
  }
}

await main();
