import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CONTAINERS_KEY, METRICS_CHANNEL } from '../../shared/src/keys.js';
import type { Payload } from '../../shared/src/payload.js';
import { AgentProcess, REPO } from '../../agent/test/helpers/agent-process.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from '../../agent/test/helpers/fake-nvml.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { launchChromium } from './helpers/browser.js';
import { makePayload } from './helpers/payload.js';

/**
 * The dashboard in headless Chromium against a real aggregator (from
 * source, so it bundles web/ on the first request), a real redis-server and
 * two real agents: one on a copied cgroup fixture the test edits, one with
 * the fake NVML library and two GPUs.
 */
const OUT = join(REPO, 'test-output');
const TOKEN = 'dashboard-test-token-0123456789';

interface Agg {
  proc: AgentProcess;
  base: string;
}

async function startAggregator(valkeyPort: number, extra: Record<string, string> = {}): Promise<Agg> {
  const port = await freePort();
  const proc = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${valkeyPort}`, LOG_LEVEL: 'warn', ...extra }, 'aggregator/src/main.ts');
  const t = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (!proc.alive || Date.now() > t) throw new Error(`aggregator did not start: ${proc.stderr}`);
    await sleep(100);
  }
  return { proc, base: `http://127.0.0.1:${port}` };
}

interface ApiSample {
  name: string;
  status: string;
  sample: Payload | null;
}

async function apiContainer(base: string, name: string): Promise<ApiSample | undefined> {
  const r = await fetch(`${base}/api/v1/containers?include=sample`);
  const body = (await r.json()) as { containers: ApiSample[] };
  return body.containers.find((c) => c.name === name);
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | null | undefined | false>): Promise<T> {
  const t = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > t) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** An attribute of every element matching `selector`, in document order (Playwright's own API, no DOM types needed). */
async function attrs(page: Page, selector: string, name: string): Promise<(string | null)[]> {
  const loc = page.locator(selector);
  const n = await loc.count();
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) out.push(await loc.nth(i).getAttribute(name));
  return out;
}

const cell = (page: Page, name: string, col: string) => page.locator(`tr[data-name="${name}"] td[data-col="${col}"]`);

describe('dashboard (real browser)', { timeout: 180_000 }, () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: Agg;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let fixture: string;
  let fake: FakeNvmlDir;
  let agentA: AgentProcess;
  const procs: AgentProcess[] = [];
  const pageErrors: string[] = [];

  function agentOn(name: string, root: string, extra: Record<string, string> = {}): AgentProcess {
    const a = new AgentProcess([], {
      CGROUP_ROOT: join(root, 'sys/fs/cgroup'),
      PROC_ROOT: join(root, 'proc'),
      SYS_ROOT: join(root, 'sys'),
      CONTAINER_NAME: name,
      INTERVAL_SECONDS: '1',
      METRICS_TTL_SECONDS: '4',
      VALKEY_URL: `redis://127.0.0.1:${server.port}`,
      LOG_LEVEL: 'warn',
      ...extra,
    });
    procs.push(a);
    return a;
  }

  function watch(p: Page): void {
    // Init scripts come through the DevTools protocol, so the page's CSP does not stop this listener.
    void p.addInitScript({ content: "window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));" });
    // Cumulative layout shift, as the browser measures it.
    void p.addInitScript({ content: "window.__cls = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; }).observe({ type: 'layout-shift', buffered: true });" });
    p.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && !/ERR_FAILED|net::|Failed to load resource/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
    });
  }

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    browser = await launchChromium();
    fixture = mkdtempSync(join(tmpdir(), 'dash-fixture-'));
    cpSync(join(REPO, 'agent/test/fixtures/docker-v2'), fixture, { recursive: true, verbatimSymlinks: true });
    fake = new FakeNvmlDir(twoGpuConfig());
    const lib = buildFakeNvml();
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    agg = await startAggregator(server.port);
    procs.push(agg.proc);
    agentA = agentOn('dash-a', fixture);
    agentOn('dash-gpu', join(REPO, 'agent/test/fixtures/docker-v2'), { ...fake.env(), NVML_LIBRARY_PATH: lib });
    context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
    page = await context.newPage();
    watch(page);
  });

  after(async () => {
    await browser.close().catch(() => undefined);
    for (const p of procs) await p.stop();
    redis.disconnect();
    await server.stop();
    fake.remove();
    rmSync(fixture, { recursive: true, force: true });
  });

  it('serves the page with its security headers and the fleet rows appear with status, figures and the summary', async () => {
    const res = await page.goto(`${agg.base}/`);
    assert.equal(res?.status(), 200);
    const h = res?.headers() ?? {};
    assert.match(h['content-security-policy'] ?? '', /default-src 'self'/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['cache-control'], 'no-cache');
    await page.locator('tr[data-name="dash-a"][data-status="ok"]').waitFor({ timeout: 30_000 });
    await page.locator('tr[data-name="dash-gpu"][data-status="ok"]').waitFor({ timeout: 30_000 });
    // The GPU agent's first sample can come before NVML is open; its GPUs appear on a later one.
    await until('the GPU row to show 2 GPUs', 10_000, async () => (await cell(page, 'dash-gpu', 'gpus').textContent()) === '2');
    assert.equal(await cell(page, 'dash-a', 'gpus').textContent(), '0');
    const api = await apiContainer(agg.base, 'dash-a');
    const mem = api?.sample?.memory_percent;
    assert.equal(typeof mem, 'number');
    assert.match((await page.locator('[data-sum="status"]').textContent()) ?? '', /2 ok/);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate('JSON.stringify(window.__csp)'), '[]', 'no Content-Security-Policy violations');
    const cls = Number(await page.evaluate('window.__cls'));
    process.stdout.write(`# fleet load: cumulative layout shift ${cls}\n`);
    assert.ok(cls < 0.02, `skeletons keep the layout: cumulative layout shift ${cls}`);
    await page.screenshot({ path: join(OUT, 'fleet.png') });
  });

  it('a value changes live after the next sample (SSE)', async () => {
    const before = (await cell(page, 'dash-a', 'mem').textContent()) ?? '';
    const limit = Number(readFileSync(join(fixture, 'sys/fs/cgroup/memory.max'), 'utf8'));
    const target = Math.round(limit * 0.75);
    writeFileSync(join(fixture, 'sys/fs/cgroup/memory.current'), `${target}\n`);
    const sample = await until('the agent to report the new memory.current', 10_000, async () => {
      const c = await apiContainer(agg.base, 'dash-a');
      return c?.sample?.memory_usage_bytes === target ? c.sample : null;
    });
    const expected = `${(sample.memory_percent ?? NaN).toFixed(1)} %`;
    assert.notEqual(expected, before, 'the fixture edit changes memory %');
    await until(`the row to show ${expected}`, 5000, async () => (await cell(page, 'dash-a', 'mem').textContent()) === expected);
    assert.equal(await page.locator('#conn').getAttribute('data-state'), 'live', 'the change came over the stream, not a poll');
  });

  it('sorts by a column and filters by name', async () => {
    await page.getByRole('button', { name: 'Sort by GPUs' }).click();
    const names = await attrs(page, 'tbody tr[data-name]', 'data-name');
    assert.deepEqual(names, ['dash-gpu', 'dash-a'], 'numeric columns sort descending first');
    await page.getByLabel('Filter containers by name').fill('gpu');
    assert.deepEqual(await attrs(page, 'tbody tr[data-name]', 'data-name'), ['dash-gpu']);
    await page.getByLabel('Filter containers by name').fill('');
  });

  it('the container page draws non-empty charts and lists top processes', async () => {
    await page.locator('a[href="#/container/dash-a"]').click();
    await page.locator('figure.chart').first().waitFor();
    await until('the CPU and memory charts to hold points', 15_000, async () => {
      const pts = (await attrs(page, 'figure.chart', 'data-points')).map(Number);
      return (pts[0] ?? 0) >= 2 && (pts[1] ?? 0) >= 2;
    });
    // Non-empty: the memory chart's canvas has drawn (non-background) pixels inside the plot.
    // (A string, because this file is type-checked without the DOM library.)
    const inked = Number(
      await page.evaluate(`(() => {
        const c = document.querySelectorAll('figure.chart')[1].querySelector('canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
        return n;
      })()`),
    );
    assert.ok(inked > 500, `the memory chart drew something (${inked} pixels)`);
    const label = (await page.locator('figure.chart').nth(1).getAttribute('aria-label')) ?? '';
    assert.match(label, /^Memory, \d+ points, latest: usage /);
    await page.screenshot({ path: join(OUT, 'container.png'), fullPage: true });
    await page.locator('.ranges button[data-range="1h"]').click();
    await page.locator('.ranges button[data-range="1h"][aria-checked="true"]').waitFor();
    assert.ok((await page.locator('table.procs tbody tr').count()) >= 1);
  });

  it('GPU view: both GPUs with static info; compare view marks highest and lowest', async () => {
    await page.goto(`${agg.base}/#/gpus`);
    await page.locator('article.gpu-card').nth(1).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('article.gpu-card').count(), 2);
    const first = (await page.locator('article.gpu-card').first().textContent()) ?? '';
    assert.match(first, /550\.54\.15/, 'driver version');
    assert.match(first, /9\.0/, 'compute capability');
    await until('the GPU charts to hold two points', 10_000, async () => {
      const pts = (await attrs(page, 'article.gpu-card figure.chart', 'data-points')).map(Number);
      return pts.length === 2 && pts.every((p) => p >= 2);
    });
    await page.screenshot({ path: join(OUT, 'gpus.png'), fullPage: true });
    await page.getByRole('link', { name: 'Compare' }).click();
    const util = page.locator('tr[data-metric="utilization"]');
    await util.waitFor();
    // twoGpuConfig: GPU 0 at 37 % and 54 °C, GPU 1 at 81 % and 61 °C.
    assert.equal(await util.locator('td.highest').getAttribute('data-uuid'), 'GPU-99999999-8888-7777-6666-555555555555');
    assert.equal(await util.locator('td.lowest').getAttribute('data-uuid'), 'GPU-00000000-1111-2222-3333-444444444444');
    const temp = page.locator('tr[data-metric="temperature"]');
    assert.match((await temp.locator('td.highest').textContent()) ?? '', /^61 ▲$/);
    assert.match((await temp.locator('td.lowest').textContent()) ?? '', /^54 ▼$/);
    const mem = page.locator('tr[data-metric="memory_used_percent"]');
    assert.equal(await mem.locator('td.highest, td.lowest').count(), 0, 'equal values are neither highest nor lowest');
    await page.screenshot({ path: join(OUT, 'gpu-compare.png') });
  });

  it('falls back to polling every 5 s when the events route is blocked, and returns to SSE', async () => {
    const ctx2 = await browser.newContext();
    const p2 = await ctx2.newPage();
    watch(p2);
    let blocked = true;
    await p2.route('**/api/v1/events**', (route) => (blocked ? route.abort() : route.continue()));
    await p2.goto(`${agg.base}/`);
    await p2.locator('#conn[data-state="polling"]').waitFor({ timeout: 10_000 });
    await p2.locator('tr[data-name="dash-a"]').waitFor();
    const limit = Number(readFileSync(join(fixture, 'sys/fs/cgroup/memory.max'), 'utf8'));
    const target = Math.round(limit * 0.5);
    writeFileSync(join(fixture, 'sys/fs/cgroup/memory.current'), `${target}\n`);
    const sample = await until('the agent to report 50 %', 10_000, async () => {
      const c = await apiContainer(agg.base, 'dash-a');
      return c?.sample?.memory_usage_bytes === target ? c.sample : null;
    });
    const expected = `${(sample.memory_percent ?? NaN).toFixed(1)} %`;
    await until(`a poll to show ${expected}`, 8000, async () => (await cell(p2, 'dash-a', 'mem').textContent()) === expected);
    assert.equal(await p2.locator('#conn').getAttribute('data-state'), 'polling');
    blocked = false;
    await p2.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    await ctx2.close();
  });

  it('with auth on: the token from the URL is kept in session storage and sent; without one the page asks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dash-auth-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ tokens: [{ token: TOKEN, role: 'viewer' }] }));
    const secured = await startAggregator(server.port, { AUTH_TOKENS_FILE: file });
    procs.push(secured.proc);
    const ctx3 = await browser.newContext();
    const p3 = await ctx3.newPage();
    watch(p3);
    await p3.goto(`${secured.base}/`);
    await p3.locator('#auth:not([hidden])').waitFor({ timeout: 10_000 });
    await p3.goto(`${secured.base}/?token=${TOKEN}`);
    await p3.locator('tr[data-name="dash-a"]').waitFor({ timeout: 15_000 });
    assert.ok(!p3.url().includes(TOKEN), 'the token is taken out of the address bar');
    assert.equal(await p3.evaluate("sessionStorage.getItem('system-monitor.token')"), TOKEN);
    await p3.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await ctx3.close();
    await secured.proc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('10,000 streamed events: the page keeps up and its heap stays bounded', async () => {
    await page.goto(`${agg.base}/#/`);
    await page.locator('tr[data-name="dash-a"]').waitFor();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    const cdp = await context.newCDPSession(page);
    const heap = async (): Promise<number> => {
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    };
    const events = async (): Promise<number> => Number(await page.locator('#conn').getAttribute('data-events'));
    const names = Array.from({ length: 20 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
    let seq = 0;
    const t0 = Date.now() - 60_000;
    const publish = async (n: number): Promise<void> => {
      const start = await events();
      for (let i = 0; i < n; i += 250) {
        const pipe = redis.pipeline();
        for (let j = i; j < Math.min(n, i + 250); j++) {
          seq += 1;
          const name = names[seq % names.length] ?? 'burst-00';
          const p = makePayload({ name, timestamp: new Date(t0 + seq * 5).toISOString(), cpu_percent: seq % 100, interval_seconds: 3600 });
          pipe.publish(METRICS_CHANNEL, JSON.stringify({ ...p, seq }));
        }
        await pipe.exec();
        await until('the page to take the batch', 20_000, async () => (await events()) >= start + Math.min(n, i + 250) - 5);
      }
    };
    // Only containers in the registry are taken from pub/sub: register them first, as agents do, and let a poll see them.
    for (const n of names) await redis.zadd(CONTAINERS_KEY, Date.now(), n);
    await until('the burst names in the fleet', 10_000, async () => {
      const r = (await (await fetch(`${agg.base}/api/v1/containers`)).json()) as { containers: { name: string }[] };
      return r.containers.filter((c) => c.name.startsWith('burst-')).length === 20;
    });
    await sleep(1200);
    await publish(1000);
    const h0 = await heap();
    await publish(10_000);
    await until('all events', 10_000, async () => (await page.locator('tbody tr[data-name^="burst-"]').count()) === 20);
    const h1 = await heap();
    const growth = h1 - h0;
    process.stdout.write(`# heap: ${(h0 / 1048576).toFixed(2)} MiB after 1,000 events, ${(h1 / 1048576).toFixed(2)} MiB after 10,000 more (growth ${(growth / 1024).toFixed(0)} KiB)\n`);
    assert.ok(growth < 2 * 1048576, `heap grew ${(growth / 1048576).toFixed(2)} MiB over 10,000 events (bound 2 MiB)`);
    await cdp.detach();
  });

  it('a stopped agent turns its row stale, then offline', async () => {
    const a = agentA;
    await page.goto(`${agg.base}/#/`);
    await page.locator('tr[data-name="dash-a"][data-status="ok"]').waitFor({ timeout: 10_000 });
    await a.stop();
    await page.locator('tr[data-name="dash-a"][data-status="stale"]').waitFor({ timeout: 8000 });
    assert.equal(await page.locator('tr[data-name="dash-a"] .badge').textContent(), 'stale');
    await page.locator('tr[data-name="dash-a"][data-status="offline"]').waitFor({ timeout: 12_000 });
    assert.equal(await page.evaluate('JSON.stringify(window.__csp)'), '[]', 'no Content-Security-Policy violations after all the views');
    assert.deepEqual(pageErrors, [], 'no script errors in any page');
  });
});
