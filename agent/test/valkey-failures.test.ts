import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { parseHistoryRow } from '../../shared/src/history.js';
import { historyKey, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema } from '../../shared/src/payload.js';
import { AgentProcess, fixtureEnv } from './helpers/agent-process.js';
import { freePort, RedisServer } from './helpers/redis-server.js';

/**
 * Each Valkey failure the sidecar must survive, against a real redis-server
 * that the test kills, freezes, restarts or misconfigures.
 */

const INTERVAL_S = 1;

function agentEnv(name: string, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return { ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, INTERVAL_SECONDS: String(INTERVAL_S), VALKEY_HOST: '127.0.0.1', VALKEY_PORT: String(port), ...extra };
}

async function client(port: number, password?: string): Promise<Redis> {
  const r = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  await r.connect();
  return r;
}

/** Polls GET until the key holds a sample newer than `afterSeq`; returns how long it took. */
async function waitForFreshSample(port: number, name: string, timeoutMs: number, afterSeq = 0): Promise<{ ms: number; seq: number }> {
  const t0 = Date.now();
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    while (Date.now() - t0 < timeoutMs) {
      try {
        if (r.status !== 'ready') await r.connect().catch(() => undefined);
        const raw = await r.get(metricsKey(name));
        if (raw !== null) {
          const seq = payloadSchema.parse(JSON.parse(raw)).seq;
          if (seq > afterSeq) return { ms: Date.now() - t0, seq };
        }
      } catch {
        // not up yet
      }
      await sleep(50);
    }
    throw new Error(`no fresh sample for ${name} within ${timeoutMs} ms`);
  } finally {
    r.disconnect();
  }
}

const agents: AgentProcess[] = [];
const servers: RedisServer[] = [];

after(async () => {
  for (const a of agents) await a.stop();
  for (const s of servers) {
    s.resume();
    await s.stop();
  }
});

function startAgent(name: string, port: number, extra: Record<string, string> = {}): AgentProcess {
  const a = new AgentProcess([], agentEnv(name, port, extra));
  agents.push(a);
  return a;
}

async function startServer(port?: number, args: string[] = []): Promise<RedisServer> {
  const s = new RedisServer(port ?? (await freePort()), args);
  servers.push(s);
  await s.start();
  return s;
}

describe('Valkey failures', () => {
  it('unreachable at start: keeps running, logs once, publishes as soon as Valkey appears', async () => {
    const port = await freePort();
    const a = startAgent('fail-late', port);
    await a.waitForLog(/system-monitor starting/, 15_000);
    await sleep(3500);
    assert.ok(a.alive, 'the agent runs without Valkey');
    assert.equal(a.said(/unreachable/).length, 1, `logged once: ${a.logs.map((l) => l.msg).join(' | ')}`);
    await startServer(port);
    const { ms } = await waitForFreshSample(port, 'fail-late', (INTERVAL_S + 6) * 1000);
    assert.ok(ms <= (INTERVAL_S + 6) * 1000);
    await a.waitForLog(/Valkey connected/, 1000);
  });

  it('killed for 20 s and restarted on the same port: stays up, queues nothing, logs loss and recovery once, key back within interval + 6 s', async () => {
    const server = await startServer();
    const a = startAgent('fail-restart', server.port);
    const first = await waitForFreshSample(server.port, 'fail-restart', 15_000);
    await waitForFreshSample(server.port, 'fail-restart', 5000, first.seq + 2);
    const rssBefore = a.rssBytes();
    await server.stop();
    await sleep(20_000);
    assert.ok(a.alive, 'the agent survived the outage');
    const rssAfter = a.rssBytes();
    const growth = rssAfter - rssBefore;
    assert.ok(growth < 5 * 1024 * 1024, `RSS grew ${(growth / 1048576).toFixed(2)} MB over the outage (limit 5 MB)`);
    await server.start();
    const back = await waitForFreshSample(server.port, 'fail-restart', (INTERVAL_S + 6) * 1000);
    assert.ok(back.seq > first.seq + 15, `sampling went on during the outage (seq ${first.seq} → ${back.seq})`);
    await a.waitForLog(/Valkey back/, 2000);
    assert.equal(a.said(/connection lost/).length, 1, 'the loss is logged once');
    assert.equal(a.said(/Valkey back/).length, 1, 'the recovery is logged once');
    assert.ok(a.said(/unreachable|closed the connection/).length <= 1, 'the reconnect errors are not logged every retry');
    // The outage itself becomes a Sirius log entry once Valkey is back.
    const r = await client(server.port);
    try {
      const entry = await waitForLogEntry(r, 'fail-restart', /connection lost .* back after/);
      assert.equal(entry.level, 'WARN', 'upper case, as SiriusScan writes and its UI colours');
      const sample = payloadSchema.parse(JSON.parse((await r.get(metricsKey('fail-restart'))) ?? '{}'));
      assert.ok(sample.agent.publish !== null && sample.agent.publish.skipped_total >= 15, 'skipped samples are counted');
    } finally {
      r.disconnect();
    }
  });

  it('a server that accepts but never answers (SIGSTOP): commands time out, the connection is replaced, memory stays flat', async () => {
    const server = await startServer();
    const a = startAgent('fail-frozen', server.port);
    const first = await waitForFreshSample(server.port, 'fail-frozen', 15_000);
    await waitForFreshSample(server.port, 'fail-frozen', 5000, first.seq + 2);
    server.pause();
    await a.waitForLog(/did not answer; replacing the connection/, 8000);
    assert.ok(a.said(/did not answer in time/).length >= 1, 'the timeout is reported');
    // Measured from the first replacement on: the new connection and the first
    // timeouts are one-off costs. What must not happen is growth with time
    // (queued commands, piled-up sockets): 8 more frozen seconds are 8 more
    // samples that must leave nothing behind.
    const rssBefore = a.rssBytes();
    await sleep(8000);
    assert.ok(a.alive);
    const growth = a.rssBytes() - rssBefore;
    assert.ok(growth < 5 * 1024 * 1024, `RSS grew ${(growth / 1048576).toFixed(2)} MB over 8 s while the server was frozen`);
    server.resume();
    const r = await client(server.port);
    const seen: number[] = [];
    const until = Date.now() + (INTERVAL_S + 4) * 1000;
    while (Date.now() < until) {
      const raw = await r.get(metricsKey('fail-frozen')).catch(() => null);
      if (raw !== null) seen.push(payloadSchema.parse(JSON.parse(raw)).seq);
      await sleep(20);
    }
    // A pipeline that timed out is skipped, never replayed by the client after
    // the reconnect: each sample is in the history at most once. (What was
    // already in the frozen server's socket still runs when it wakes: TCP cannot
    // take it back, and the next tick overwrites the key.)
    const hist = await r.xrangeBuffer(historyKey('fail-frozen'), '-', '+');
    r.disconnect();
    const stamps = hist.map(([, f]) => parseHistoryRow(f).ts);
    const twice = stamps.filter((ts, i) => stamps.indexOf(ts) !== i);
    assert.deepEqual(twice, [], `samples written twice: ${stamps.join(',')}`);
    assert.ok(hist.length >= 3, 'samples before and after the freeze are in the history');
    assert.ok(seen.length > 10, 'the key was read after the server woke');
    const backwards = seen.filter((q, i) => i > 0 && q < (seen[i - 1] ?? 0));
    assert.deepEqual(backwards, [], `seq went backwards after SIGCONT: ${seen.join(',')}`);
    const back = seen.at(-1) ?? 0;
    assert.ok(back > first.seq + 8, `sampling went on while the server was frozen (seq ${first.seq} → ${back})`);
  });

  it('wrong password: a clear error naming VALKEY_PASSWORD, retried with backoff, no crash loop', async () => {
    const server = await startServer(undefined, ['--requirepass', 'right-one']);
    const r = await client(server.port, 'right-one');
    const before = connectionsReceived(await r.info('stats'));
    const a = startAgent('fail-auth', server.port, { VALKEY_PASSWORD: 'wrong-one' });
    await a.waitForLog(/rejected the credentials/, 15_000);
    await sleep(6000);
    assert.ok(a.alive, 'no crash');
    const errors = a.said(/rejected the credentials/);
    assert.equal(errors.length, 1, 'logged once, not every retry');
    assert.match(errors[0]?.msg ?? '', /check VALKEY_PASSWORD/);
    const attempts = connectionsReceived(await r.info('stats')) - before;
    // 100 ms doubling with jitter: about 7 attempts in 6 s; a tight loop would make ~60.
    assert.ok(attempts >= 2 && attempts <= 12, `${attempts} connection attempts in ~6 s`);
    r.disconnect();
  });

  it('TLS on against a plain server: an error naming VALKEY_TLS, no crash', async () => {
    const server = await startServer();
    const a = startAgent('fail-tls-on', server.port, { VALKEY_TLS: 'true' });
    const line = await a.waitForLog(/did not answer in time|TLS/, 15_000);
    assert.match(line.msg, /VALKEY_TLS/);
    await sleep(2000);
    assert.ok(a.alive);
  });

  it('TLS off against a TLS-only server: an error suggesting VALKEY_TLS, no crash', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sm-tls-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { encoding: 'utf8' });
    assert.equal(made.status, 0, `openssl (Debian package openssl) must make a test certificate: ${made.error?.message ?? made.stderr}`);
    const tlsPort = await freePort();
    const c = join(dir, 'c.pem');
    const server = new RedisServer(0, ['--tls-port', String(tlsPort), '--tls-cert-file', c, '--tls-key-file', join(dir, 'k.pem'), '--tls-ca-cert-file', c, '--tls-auth-clients', 'no'], tlsPort);
    servers.push(server);
    await server.start();
    const a = startAgent('fail-tls-off', tlsPort);
    const line = await a.waitForLog(/closed the connection|did not answer/, 15_000);
    assert.match(line.msg, /VALKEY_TLS=true/);
    await sleep(2000);
    assert.ok(a.alive);
  });
});

function connectionsReceived(info: string): number {
  const m = /total_connections_received:(\d+)/.exec(info);
  if (!m?.[1]) throw new Error('no total_connections_received in INFO stats');
  return Number(m[1]);
}

async function waitForLogEntry(r: Redis, name: string, re: RegExp): Promise<{ level: string; message: string }> {
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    for (const key of await r.keys(`system:logs:${name}:*`)) {
      const v = await r.get(key);
      if (v === null) continue;
      const e = JSON.parse(v) as { level: string; message: string };
      if (re.test(e.message)) return e;
    }
    await sleep(100);
  }
  throw new Error(`no log entry matching ${re} for ${name}`);
}
