import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { CONTAINERS_KEY, METRICS_CHANNEL, historyKey, metricsKey } from '../../shared/src/keys.js';
import { historyFields } from '../../shared/src/history.js';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { makePayload } from './helpers/payload.js';
import { Receiver } from './helpers/receiver.js';

/** The aggregator as a real process: alerts, SSE alert events, webhooks, rule reload, history and capacity routes. */

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | null>): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('aggregator alerting over HTTP', () => {
  let server: RedisServer;
  let redis: Redis;
  let rx: Receiver;
  let agg: AgentProcess;
  let base = '';
  let dir = '';
  let rulesPath = '';
  let memory = 95;
  let feeder: NodeJS.Timeout | null = null;
  const sseText: string[] = [];
  const sseAbort = new AbortController();

  const publish = async (): Promise<void> => {
    const now = Date.now();
    const p = makePayload({ name: 'web-1', memory_percent: memory, interval_seconds: 1, timestamp: new Date(now).toISOString(), memory_limit_bytes: 1e9, working_set_bytes: 0.7e9 });
    const json = JSON.stringify(p);
    await redis.set(metricsKey('web-1'), json, 'EX', 10);
    await redis.zadd(CONTAINERS_KEY, now, 'web-1');
    await redis.xadd(historyKey('web-1'), '*', ...historyFields(p, now));
    await redis.publish(METRICS_CHANNEL, json);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agg-alerts-'));
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    rx = new Receiver(() => 200);
    await rx.start();
    rulesPath = join(dir, 'rules.yaml');
    writeFileSync(rulesPath, [
      'notify:',
      `  webhooks: ["${rx.url}"]`,
      'rules:',
      '  - id: mem',
      '    name: Memory high',
      '    metric: memory_percent',
      '    warn: 90',
      '    for: 2s',
      '    annotations: {summary: "{{container}} at {{value}} %"}',
    ].join('\n'));
    const port = await freePort();
    agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ALERT_RULES_FILE: rulesPath }, 'aggregator/src/main.ts');
    await agg.waitForLog(/aggregator listening/, 20_000);
    base = `http://127.0.0.1:${port}`;
    void (async () => {
      try {
        const r = await fetch(`${base}/api/v1/events?types=alert`, { signal: sseAbort.signal });
        const reader = r.body?.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const chunk = (await reader?.read()) as { value?: Uint8Array; done: boolean } | undefined;
          if (chunk === undefined || chunk.done) return;
          sseText.push(dec.decode(chunk.value, { stream: true }));
        }
      } catch {
        // aborted at the end
      }
    })();
    // Publish only once the SSE stream is open, so the pending event cannot be missed.
    await until('the SSE stream', 5000, () => Promise.resolve(sseText.join('').includes('retry:') ? true : null));
    await publish();
    feeder = setInterval(() => void publish().catch(() => undefined), 500);
  });

  after(async () => {
    if (feeder !== null) clearInterval(feeder);
    sseAbort.abort();
    await agg.stop();
    redis.disconnect();
    await rx.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a sample over the threshold goes pending, then firing; SSE alert events and one webhook follow', async () => {
    const pending = await until('a pending alert', 5000, async () => {
      const { body } = await getJson(`${base}/api/v1/alerts`);
      const list = body.alerts as { state: string; rule_id: string; value: number; container: string }[];
      return list.find((a) => a.rule_id === 'mem') ?? null;
    });
    assert.equal(pending.container, 'web-1');
    assert.equal(pending.value, 95);
    await until('firing', 6000, async () => {
      const { body } = await getJson(`${base}/api/v1/alerts`);
      return (body.alerts as { state: string }[]).some((a) => a.state === 'firing') ? true : null;
    });
    await until('the webhook', 8000, () => Promise.resolve(rx.successes().length > 0 ? true : null));
    const hook = rx.successes()[0]?.body as { version: string; alerts: { labels: Record<string, string>; annotations: Record<string, string> }[] };
    assert.equal(hook.version, '4');
    assert.equal(hook.alerts[0]?.labels.alertname, 'mem');
    assert.equal(hook.alerts[0]?.annotations.summary, 'web-1 at 95 %');
    const text = sseText.join('');
    assert.match(text, /event: alert\n/);
    assert.match(text, /"kind":"pending"/);
    assert.match(text, /"kind":"firing"/);
    const { body } = await getJson(`${base}/api/v1/alerts/history?count=10`);
    assert.deepEqual((body.transitions as { kind: string }[]).map((t) => t.kind).slice(0, 2), ['firing', 'pending']);
    assert.equal((await getJson(`${base}/api/v1/alerts/history?count=zero`)).status, 400);
  });

  it('capacity and history routes answer with numbers, and reject bad parameters', async () => {
    const cap = await getJson(`${base}/api/v1/capacity?container=web-1&memory_bytes=500000000`);
    assert.equal(cap.status, 200);
    assert.equal(cap.body.fits, false);
    assert.equal(cap.body.reason, 'does not fit: memory: needs 0.5 GB, 0.3 GB available, would leave -0.2 GB (minimum 0.2 GB)');
    const bad = await getJson(`${base}/api/v1/capacity?container=web-1`);
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /give cpu_cores and\/or memory_bytes/);
    assert.equal((await getJson(`${base}/api/v1/capacity?container=nope&cpu_cores=1`)).status, 404);
    const h = await getJson(`${base}/api/v1/containers/web-1/history?since=-5m&fields=memory_percent`);
    assert.equal(h.status, 200);
    const points = h.body.points as { values: Record<string, number> }[];
    assert.ok(points.length >= 2, `raw points: ${points.length}`);
    assert.equal(points[0]?.values.memory_percent, 95);
    const badRes = await getJson(`${base}/api/v1/containers/web-1/history?resolution=1h`);
    assert.equal(badRes.status, 400);
    assert.match(String(badRes.body.error), /resolution: must be raw, 1m or 5m/);
  });

  it('SIGHUP with a bad rules file keeps the rules; a good one replaces them; resolved is sent', async () => {
    writeFileSync(rulesPath, 'rules:\n  - id: mem\n    name: M\n    metric: memory_percent\n    warn: ninety\n');
    agg.signal('SIGHUP');
    await agg.waitForLog(/alert rules not reloaded; keeping the previous rules/, 5000);
    const still = await getJson(`${base}/api/v1/alerts`);
    assert.equal((still.body.alerts as unknown[]).length, 1);
    memory = 40;
    await until('resolved webhook', 8000, () => Promise.resolve(rx.successes().some((r) => (r.body as { status: string }).status === 'resolved') ? true : null));
    const now = await getJson(`${base}/api/v1/alerts`);
    assert.deepEqual(now.body.alerts, []);
  });

  it('a sample only a poll sees (no PUBLISH) is evaluated too', async () => {
    const now = Date.now();
    const p = makePayload({ name: 'quiet-1', memory_percent: 99, interval_seconds: 1, timestamp: new Date(now).toISOString() });
    await redis.set(metricsKey('quiet-1'), JSON.stringify(p), 'EX', 10);
    await redis.zadd(CONTAINERS_KEY, now, 'quiet-1');
    const a = await until('an alert for quiet-1', 6000, async () => {
      const { body } = await getJson(`${base}/api/v1/alerts`);
      return (body.alerts as { container: string; value: number }[]).find((x) => x.container === 'quiet-1') ?? null;
    });
    assert.equal(a.value, 99);
  });
});
