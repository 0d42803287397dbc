/**
 * Dashboard benchmarks (part of `npm run bench`), in headless Chromium
 * against a real aggregator and redis-server on this machine:
 *
 * 1. First meaningful paint of the fleet view with 200 containers: from
 *    navigation start to the first frame drawn after the table has its data
 *    (the page's `first-data-paint` mark). Peer, same run: a plain
 *    server-rendered HTML table of the same 200 rows with the same columns,
 *    marked the same way (two animation frames after its script runs).
 * 2. A 24 h container page at 1-minute resolution (1440 rollup buckets,
 *    five charts, twelve series): from the history answer parsed to every
 *    chart drawn (`history-render`). Peer, same page: the same points drawn
 *    as plain canvas polylines (no scales, axes or legend).
 *
 * Each figure is the median of N fresh browser contexts (no cache).
 * Usage: tsx scripts/bench-dashboard.ts [runs=7]
 * BENCH_DEBUG=1 prints each load's marks and resource timings;
 * BENCH_PROFILE=1 prints the top self-time functions of one dashboard load;
 * BENCH_TRACE=1 the browser's own time per trace event (layout, paint, …).
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { AgentProcess } from '../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { launchChromium } from '../aggregator/test/helpers/browser.js';
import { makePayload } from '../aggregator/test/helpers/payload.js';
import { BUCKET_FIELD, encodeBucket } from '../aggregator/src/history/bucket-codec.js';
import { rolledFields, type Bucket } from '../aggregator/src/history/rollup.js';
import { CONTAINERS_KEY, metricsKey, rollupKey } from '../shared/src/keys.js';

const RUNS = Number(process.argv[2] ?? 7);
const CONTAINERS = 200;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

const names = Array.from({ length: CONTAINERS }, (_, i) => `bench-${String(i).padStart(3, '0')}`);

function sample(name: string, i: number) {
  return makePayload({ name, timestamp: new Date().toISOString(), interval_seconds: 3600, cpu_percent: (i * 7) % 100, memory_percent: (i * 13) % 100, disk_percent: (i * 3) % 100, uptime_seconds: 1000 + i * 97, cores_used: ((i * 7) % 100) / 50, limit_cores: 2 });
}

/** The peer: the same rows and columns as static HTML, with the same two-frame paint mark (external script, so the CSP-free page does the same work). */
function plainTable(): string {
  const head = ['Container', 'Status', 'CPU % of limit', 'Memory % of limit', 'Net rx', 'Net tx', 'Disk read', 'Disk write', 'Disk %', 'GPUs', 'Uptime', 'CPU trend'];
  const rows = names.map((n, i) => {
    const s = sample(n, i);
    const cells = [n, 'ok', `${(s.cpu_percent ?? 0).toFixed(1)} %`, `${(s.memory_percent ?? 0).toFixed(1)} %`, '—', '—', '—', '—', `${(s.disk_percent ?? 0).toFixed(1)} %`, '0', `${s.uptime_seconds ?? 0}s`, ''];
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>peer</title></head><body><table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table><script src="/mark.js"></script></body></html>`;
}

/** Polls from outside (the page's CSP forbids the eval that waitForFunction would use). */
async function waitEntry(page: Page, name: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await page.evaluate(`performance.getEntriesByName('${name}').length > 0`)) return;
    await sleep(5);
  }
  throw new Error(`no performance entry ${name}`);
}

async function main(): Promise<void> {
  const redisServer = new RedisServer(await freePort());
  await redisServer.start();
  const redis = new Redis({ port: redisServer.port, host: '127.0.0.1' });
  const port = await freePort();
  const agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${redisServer.port}`, LOG_LEVEL: 'warn' }, 'aggregator/src/main.ts');
  const base = `http://127.0.0.1:${port}`;
  const peerHtml = plainTable();
  const peer = createServer((req, res) => {
    if (req.url === '/mark.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end("requestAnimationFrame(() => requestAnimationFrame(() => performance.mark('first-data-paint')));");
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(peerHtml);
  });
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
  const pa = peer.address();
  const peerBase = `http://127.0.0.1:${typeof pa === 'object' && pa !== null ? pa.port : 0}`;
  const browser = await launchChromium();
  try {
    const now = Date.now();
    const pipe = redis.pipeline();
    names.forEach((n, i) => {
      pipe.set(metricsKey(n), JSON.stringify(sample(n, i)), 'EX', 3600);
      pipe.zadd(CONTAINERS_KEY, now, n);
    });
    // 24 h of 1-minute buckets for the first container.
    const start = Math.floor((now - 86_400_000) / 60_000) * 60_000;
    for (let k = 0; k < 1440; k++) {
      const t = start + k * 60_000;
      const wave = (x: number) => 50 + 40 * Math.sin((k / 1440) * 2 * Math.PI * x);
      const fields: Bucket['fields'] = {};
      for (const f of rolledFields) {
        const v = f.endsWith('_bytes') ? wave(3) * 1e7 : f.endsWith('_per_sec') ? wave(5) * 1e5 : f === 'cpu_limit_cores' ? 2 : f === 'cpu_cores' ? wave(2) / 50 : wave(1);
        fields[f] = { min: v * 0.9, avg: v, max: v * 1.1 };
      }
      pipe.xadd(rollupKey('1m', names[0] ?? ''), `${t}-1`, BUCKET_FIELD, encodeBucket({ start: t, n: 12, fields }).bytes);
    }
    await pipe.exec();
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(`${base}/api/v1/containers?status=ok`);
        const body = (await r.json()) as { containers: unknown[] };
        if (body.containers.length === CONTAINERS) break;
      } catch {
        // not up yet
      }
      if (i > 300) throw new Error(`the aggregator did not list ${CONTAINERS} ok containers: ${agg.stderr}`);
      await sleep(100);
    }
    // Warm-up: the aggregator bundles web/ on the first request.
    await (await fetch(`${base}/`)).text();

    const paint = async (url: string, rows: string): Promise<number> => {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(url);
      await waitEntry(page, 'first-data-paint');
      const rowCount = await page.locator(rows).count();
      if (rowCount !== CONTAINERS) throw new Error(`${url}: ${rowCount} rows, expected ${CONTAINERS}`);
      const ms = Number(await page.evaluate("performance.getEntriesByName('first-data-paint')[0].startTime"));
      if (process.env.BENCH_DEBUG !== undefined) process.stdout.write(`${url}: ${String(await page.evaluate("JSON.stringify([...performance.getEntriesByType('mark').map(e => [e.name, Math.round(e.startTime)]), ...performance.getEntriesByType('resource').map(e => [e.name.slice(-40), Math.round(e.startTime), Math.round(e.responseEnd), e.transferSize])])"))}\n`);
      await ctx.close();
      return ms;
    };
    const chart = async (): Promise<{ uplot: number; canvas: number; points: number }> => {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/container/${names[0] ?? ''}?range=24h`);
      await waitEntry(page, 'history-render');
      const uplot = Number(await page.evaluate("performance.getEntriesByName('history-render')[0].duration"));
      const points = Number(await page.locator('figure.chart').first().getAttribute('data-points'));
      // Peer: the same 12 series × 1440 points as bare polylines on canvases of the same size.
      const canvas = Number(
        await page.evaluate(`(async () => {
          const r = await fetch('/api/v1/containers/${names[0] ?? ''}/history?since=-86400s&resolution=1m');
          const body = await r.json();
          const pts = body.points;
          const series = [['cpu_percent'], ['memory_bytes','memory_working_set_bytes','memory_limit_bytes'], ['rx_bytes_per_sec','tx_bytes_per_sec'], ['read_bytes_per_sec','write_bytes_per_sec'], ['cpu_percent','cpu_percent','cpu_percent']];
          const plots = [...document.querySelectorAll('.uplot canvas')];
          const t0 = performance.now();
          series.forEach((fields, i) => {
            const ref = plots[i];
            const c = document.createElement('canvas');
            c.width = ref.width; c.height = ref.height;
            document.body.append(c);
            const g = c.getContext('2d');
            g.clearRect(0, 0, c.width, c.height);
            for (const f of fields) {
              let lo = Infinity, hi = -Infinity;
              const ys = pts.map((p) => p.values[f] ? p.values[f].avg : null);
              for (const y of ys) if (y !== null) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
              g.beginPath();
              ys.forEach((y, k) => { const x = k / (ys.length - 1) * c.width; const yy = c.height - (y - lo) / (hi - lo || 1) * c.height; if (k === 0) g.moveTo(x, yy); else g.lineTo(x, yy); });
              g.stroke();
            }
          });
          return performance.now() - t0;
        })()`),
      );
      await ctx.close();
      return { uplot, canvas, points };
    };

    if (process.env.BENCH_PROFILE !== undefined) {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
      await page.goto(`${base}/`);
      await waitEntry(page, 'first-data-paint');
      const { profile } = await cdp.send('Profiler.stop');
      const self = new Map<string, number>();
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const dt = profile.timeDeltas ?? [];
      (profile.samples ?? []).forEach((id, i) => {
        const n = byId.get(id);
        const key = n === undefined ? '?' : `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.slice(-30)}:${n.callFrame.lineNumber}:${n.callFrame.columnNumber}`;
        self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000);
      });
      for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${v.toFixed(1).padStart(7)} ms  ${k}\n`);
      await ctx.close();
    }
    if (process.env.BENCH_TRACE !== undefined) {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
      await page.goto(`${base}/`);
      await waitEntry(page, 'first-data-paint');
      const buf = await browser.stopTracing();
      const events = (JSON.parse(buf.toString('utf8')) as { traceEvents: { name: string; dur?: number; ph: string }[] }).traceEvents;
      const sum = new Map<string, number>();
      for (const e of events) if (e.ph === 'X' && e.dur !== undefined) sum.set(e.name, (sum.get(e.name) ?? 0) + e.dur / 1000);
      for (const [k, v] of [...sum.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`${v.toFixed(1).padStart(8)} ms  ${k}\n`);
      await ctx.close();
    }
    const dash: number[] = [];
    const plain: number[] = [];
    const up: number[] = [];
    const cv: number[] = [];
    let points = 0;
    await paint(`${base}/`, 'tbody tr[data-name]');
    await paint(peerBase, 'tbody tr');
    await chart();
    for (let i = 0; i < RUNS; i++) {
      dash.push(await paint(`${base}/`, 'tbody tr[data-name]'));
      plain.push(await paint(peerBase, 'tbody tr'));
      const c = await chart();
      up.push(c.uplot);
      cv.push(c.canvas);
      points = c.points;
    }
    const d = median(dash);
    const p = median(plain);
    const u = median(up);
    const c = median(cv);
    process.stdout.write(`\nDashboard (headless Chromium ${browser.version()}, ${RUNS} runs, medians)\n`);
    process.stdout.write(`fleet view, ${CONTAINERS} containers: first data paint ${d.toFixed(0)} ms (runs ${dash.map((x) => x.toFixed(0)).join(' ')}); plain HTML table of the same rows ${p.toFixed(0)} ms; ratio ${(d / p).toFixed(2)}× (target ≤ 1000 ms)\n`);
    process.stdout.write(`24 h container page, ${points} points × 12 series in 5 uPlot charts: ${u.toFixed(1)} ms (runs ${up.map((x) => x.toFixed(1)).join(' ')}); bare canvas polylines of the same points ${c.toFixed(1)} ms; ratio ${(u / c).toFixed(2)}× (target ≤ 200 ms)\n`);
  } finally {
    await browser.close();
    peer.close();
    await agg.stop();
    redis.disconnect();
    await redisServer.stop();
  }
}

await main();
