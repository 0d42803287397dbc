import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';
import { makePayload } from './helpers/payload.js';
import { Receiver } from './helpers/receiver.js';

/**
 * Silences and acknowledgements through two real aggregator replicas sharing
 * a real redis-server: admin-only writes, viewers read, silenced alerts stay
 * listed and send no webhook, and all of it survives a replica going away.
 */

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';

interface Listed { fingerprint: string; container: string; state: string; silenced_by: string[]; acknowledged: { by: string; comment: string } | null }

async function call(url: string, token: string | null, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('silences and acknowledgements across replicas', () => {
  let server: RedisServer;
  let redis: Redis;
  let rx: Receiver;
  let dir = '';
  let env: Record<string, string> = {};
  const replicas: { proc: AgentProcess; base: string }[] = [];
  let feeder: NodeJS.Timeout | null = null;

  const startReplica = async (): Promise<{ proc: AgentProcess; base: string }> => {
    const port = await freePort();
    const proc = new AgentProcess([], { ...env, PORT: String(port) }, 'aggregator/src/main.ts');
    await proc.waitForLog(/aggregator listening/, 20_000);
    return { proc, base: `http://127.0.0.1:${port}` };
  };

  const publish = async (): Promise<void> => {
    const now = Date.now();
    for (const name of ['web-1', 'web-2']) {
      const json = JSON.stringify(makePayload({ name, memory_percent: 95, interval_seconds: 1, timestamp: new Date(now).toISOString() }));
      await redis.set(metricsKey(name), json, 'EX', 10);
      await redis.zadd(CONTAINERS_KEY, now, name);
      await redis.publish(METRICS_CHANNEL, json);
    }
  };

  /** Webhook messages the receiver accepted for `container`, as their status. */
  const hooks = (container: string): string[] =>
    rx.successes().flatMap((r) => {
      const b = r.body as { alerts?: { status: string; labels: Record<string, string> }[] };
      return (b.alerts ?? []).filter((a) => a.labels.container === container).map((a) => a.status);
    });

  const listed = async (base: string, container: string): Promise<Listed | null> => {
    const { body } = await call(`${base}/api/v1/alerts`, VIEWER);
    return (body.alerts as Listed[]).find((a) => a.container === container && a.state === 'firing') ?? null;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agg-silences-'));
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    rx = new Receiver(() => 200);
    await rx.start();
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, ['notify:', `  webhooks: ["${rx.url}"]`, 'rules:', '  - id: mem', '    name: Memory high', '    metric: memory_percent', '    warn: 90', '    for: 1s'].join('\n'));
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'ops-alice', token: ADMIN, role: 'admin' }, { name: 'viewer-bob', token: VIEWER, role: 'viewer' }] }));
    env = { INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ALERT_RULES_FILE: rules, AUTH_TOKENS_FILE: tokens };
    replicas.push(await startReplica());
    await sleep(500);
    replicas.push(await startReplica());
  });

  after(async () => {
    if (feeder !== null) clearInterval(feeder);
    for (const r of replicas) await r.proc.stop();
    redis.disconnect();
    await rx.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let silenceId = '';

  it('only an admin token may silence; viewers read silences', async () => {
    const [a, b] = replicas;
    assert.ok(a !== undefined && b !== undefined);
    const body = { rule_id: 'mem', container: 'web-1', duration: '1h', comment: 'planned load test' };
    assert.equal((await call(`${a.base}/api/v1/silences`, null, { method: 'POST', body })).status, 401);
    const viewer = await call(`${a.base}/api/v1/silences`, VIEWER, { method: 'POST', body });
    assert.equal(viewer.status, 403);
    assert.match(String(viewer.body.error), /admin/);
    const bad = await call(`${a.base}/api/v1/silences`, ADMIN, { method: 'POST', body: { duration: '1h', comment: 'everything' } });
    assert.equal(bad.status, 400);
    const badDuration = await call(`${a.base}/api/v1/silences`, ADMIN, { method: 'POST', body: { ...body, duration: '-5m' } });
    assert.equal(badDuration.status, 400);
    const made = await call(`${a.base}/api/v1/silences`, ADMIN, { method: 'POST', body });
    assert.equal(made.status, 201);
    const s = made.body.silence as { id: string; created_by: string; comment: string; ends_at: number };
    assert.equal(s.created_by, 'ops-alice');
    assert.equal(s.comment, 'planned load test');
    silenceId = s.id;
    // The other replica reads it from Valkey.
    await until('the silence on replica b', async () => {
      const { status, body: l } = await call(`${b.base}/api/v1/silences`, VIEWER);
      assert.equal(status, 200);
      return (l.silences as { id: string }[]).some((x) => x.id === silenceId) ? true : null;
    }, 5000);
  });

  it('a silenced alert is listed, marked, and sends no webhook; the other one does', async () => {
    const [a, b] = replicas;
    assert.ok(a !== undefined && b !== undefined);
    await publish();
    feeder = setInterval(() => void publish().catch(() => undefined), 500);
    await until('web-2 webhook', () => (hooks('web-2').includes('firing') ? true : null), 15_000);
    for (const r of [a, b]) {
      const w1 = await until('web-1 firing', () => listed(r.base, 'web-1'), 10_000);
      assert.deepEqual(w1.silenced_by, [silenceId]);
      const w2 = await until('web-2 firing', () => listed(r.base, 'web-2'), 10_000);
      assert.deepEqual(w2.silenced_by, []);
    }
    await sleep(3000);
    assert.deepEqual(hooks('web-1'), []);
  });

  it('an admin acknowledges a firing alert; a viewer cannot; every replica shows it', async () => {
    const [a, b] = replicas;
    assert.ok(a !== undefined && b !== undefined);
    const w2 = await listed(b.base, 'web-2');
    assert.ok(w2 !== null);
    assert.equal((await call(`${b.base}/api/v1/alerts/${w2.fingerprint}/ack`, VIEWER, { method: 'POST', body: {} })).status, 403);
    assert.equal((await call(`${b.base}/api/v1/alerts/0000000000000000/ack`, ADMIN, { method: 'POST', body: {} })).status, 404);
    const ok = await call(`${b.base}/api/v1/alerts/${w2.fingerprint}/ack`, ADMIN, { method: 'POST', body: { comment: 'looking at it' } });
    assert.equal(ok.status, 200);
    await until('the ack on replica a', async () => {
      const x = await listed(a.base, 'web-2');
      return x?.acknowledged?.by === 'ops-alice' && x.acknowledged.comment === 'looking at it' ? true : null;
    }, 5000);
  });

  it('survives a replica going away and coming back: still silenced, then expiring it sends the webhook', async () => {
    const first = replicas.shift();
    assert.ok(first !== undefined);
    await first.proc.stop();
    // The survivor takes over the lock (ttl 5 s) and must keep honouring the silence.
    await sleep(7000);
    assert.deepEqual(hooks('web-1'), []);
    const back = await startReplica();
    replicas.push(back);
    await until('the silence read by the new replica', async () => {
      const { body } = await call(`${back.base}/api/v1/silences`, VIEWER);
      return (body.silences as { id: string }[]).some((x) => x.id === silenceId) ? true : null;
    }, 15_000);
    const w1 = await until('web-1 firing on the new replica', () => listed(back.base, 'web-1'), 15_000);
    assert.deepEqual(w1.silenced_by, [silenceId]);
    const w2 = await until('web-2 ack on the new replica', async () => {
      const x = await listed(back.base, 'web-2');
      return x?.acknowledged !== null && x !== null ? x : null;
    }, 5000);
    assert.equal(w2.acknowledged?.by, 'ops-alice');
    assert.equal(hooks('web-1').length, 0);
    assert.equal((await call(`${back.base}/api/v1/silences/${silenceId}/expire`, VIEWER, { method: 'POST' })).status, 403);
    const expired = await call(`${back.base}/api/v1/silences/${silenceId}/expire`, ADMIN, { method: 'POST' });
    assert.equal(expired.status, 200);
    assert.equal((expired.body.silence as { expired_by: string }).expired_by, 'ops-alice');
    await until('web-1 webhook after the silence expired', () => (hooks('web-1').includes('firing') ? true : null), 15_000);
    const after = await until('web-1 unmarked', async () => {
      const x = await listed(back.base, 'web-1');
      return x !== null && x.silenced_by.length === 0 ? x : null;
    }, 5000);
    assert.deepEqual(after.silenced_by, []);
  });
});
