import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { aclFile } from '../../scripts/valkey-acl.js';
import { aclFileLine, agentAclRules, agentUserName, aggregatorAclRules, defaultUserAclRules, HOST_AGENT_USER } from '../../shared/src/acl.js';
import {
  ALERTS_EVENTS_KEY, ALERTS_STATE_KEY, CONTAINERS_KEY, LEADER_KEY, LOG_INDEX_KEY, METRICS_CHANNEL, historyKey, logKey, metricsKey, rollupKey,
} from '../../shared/src/keys.js';
import { ioredisOptions, valkeyConfigFromEnv } from '../../shared/src/valkey.js';
import { AgentProcess, REPO, fixtureEnv } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { Receiver } from './helpers/receiver.js';

/**
 * A real redis-server started with an ACL file made by shared/src/acl.ts: one
 * user per agent, one for the aggregator, `default` limited to PING, and an
 * `admin` user the test alone uses to look. Agents are real processes, the
 * aggregator too.
 */

const PASSWORDS = { web: 'web-pw-1', db: 'db-pw-2', aggregator: 'agg-pw-3', admin: 'admin-pw-4' };

function client(port: number, user: string, password: string): Redis {
  const cfg = valkeyConfigFromEnv({ VALKEY_HOST: '127.0.0.1', VALKEY_PORT: String(port), VALKEY_USERNAME: user, VALKEY_PASSWORD: password });
  return new Redis({ ...ioredisOptions(cfg), maxRetriesPerRequest: 1 });
}

/** The error a command gets, or null when it succeeded. */
async function refusal(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

describe('least privilege in Valkey (ACL users)', () => {
  let dir = '';
  let server: RedisServer;
  let admin: Redis;
  let port = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'acl-'));
    const acl = join(dir, 'users.acl');
    writeFileSync(acl, [
      aclFileLine('default', defaultUserAclRules()),
      aclFileLine(agentUserName('web-1'), agentAclRules('web-1', PASSWORDS.web)),
      aclFileLine(agentUserName('db-1'), agentAclRules('db-1', PASSWORDS.db)),
      aclFileLine('aggregator', aggregatorAclRules(PASSWORDS.aggregator)),
      `user admin on >${PASSWORDS.admin} ~* &* +@all`,
      '',
    ].join('\n'));
    port = await freePort();
    server = new RedisServer(port, ['--aclfile', acl]);
    await server.start();
    admin = client(port, 'admin', PASSWORDS.admin);
  });
  after(async () => {
    admin.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an agent writes its own keys, registers itself and publishes', async () => {
    const web = client(port, agentUserName('web-1'), PASSWORDS.web);
    try {
      assert.equal(await web.set(metricsKey('web-1'), '{}', 'EX', 30), 'OK');
      assert.match(await web.xadd(historyKey('web-1'), 'MAXLEN', '~', 10, '*', 'c', '1') ?? '', /^\d+-\d+$/);
      const lk = logKey('web-1', 123n);
      assert.equal(await web.set(lk, '{}', 'EX', 30), 'OK');
      assert.equal(await web.zadd(LOG_INDEX_KEY, 1, lk), 1);
      assert.equal(await web.zremrangebyscore(LOG_INDEX_KEY, '-inf', 0), 0);
      assert.equal(await web.zadd(CONTAINERS_KEY, Date.now(), 'web-1'), 1);
      assert.equal(typeof await web.publish(METRICS_CHANNEL, '{}'), 'number');
      assert.equal(await admin.get(metricsKey('web-1')), '{}');
    } finally {
      web.disconnect();
    }
  });

  it("an agent cannot touch another container's keys, the leader lock, the alert state or the registry's type", async () => {
    await admin.set(metricsKey('db-1'), 'db-sample');
    await admin.xadd(historyKey('db-1'), '*', 'c', 'db');
    await admin.set(LEADER_KEY, 'replica-a', 'PX', 60_000);
    await admin.hset(ALERTS_STATE_KEY, 'fp', 'real-state');
    const before = { history: await admin.xlen(historyKey('db-1')), events: await admin.exists(ALERTS_EVENTS_KEY) };
    const web = client(port, agentUserName('web-1'), PASSWORDS.web);
    try {
      const attempts: [string, Promise<unknown>][] = [
        ['SET other metrics', web.set(metricsKey('db-1'), 'forged')],
        ['GET other metrics', web.get(metricsKey('db-1'))],
        ['XADD other history', web.xadd(historyKey('db-1'), '*', 'c', 'forged')],
        ['SET other log key', web.set(logKey('db-1', 1n), 'forged')],
        ['DEL other metrics', web.del(metricsKey('db-1'))],
        ['DEL own metrics', web.del(metricsKey('web-1'))],
        ['RENAME own onto other', web.rename(historyKey('web-1'), historyKey('db-1'))],
        ['COPY own onto other', web.copy(metricsKey('web-1'), metricsKey('db-1'), 'REPLACE')],
        ['SET leader', web.set(LEADER_KEY, 'agent', 'PX', 3_600_000)],
        ['PEXPIRE leader', web.pexpire(LEADER_KEY, 3_600_000)],
        ['DEL leader', web.del(LEADER_KEY)],
        ['HSET alert state', web.hset(ALERTS_STATE_KEY, 'fp', 'forged')],
        ['XADD alert events', web.xadd(ALERTS_EVENTS_KEY, '*', 'k', 'firing')],
        ['XADD rollup', web.xadd(rollupKey('1m', 'web-1'), '*', 'k', 'v')],
        ['SET registry', web.set(CONTAINERS_KEY, 'x')],
        ['ZREM registry', web.zrem(CONTAINERS_KEY, 'db-1')],
        ['ZREMRANGEBYSCORE registry', web.zremrangebyscore(CONTAINERS_KEY, '-inf', '+inf')],
        ['DEL log index', web.del(LOG_INDEX_KEY)],
        ['EVAL', web.eval("return redis.call('set', KEYS[1], 'x')", 1, LEADER_KEY)],
        ['PUBLISH other channel', web.publish('system:alerts', 'x')],
        ['FLUSHALL', web.flushall()],
        ['KEYS', web.keys('*')],
        ['CONFIG SET', web.config('SET', 'maxmemory', '1')],
        ['ACL SETUSER', web.acl('SETUSER', agentUserName('web-1'), '+@all', '~*')],
      ];
      for (const [what, p] of attempts) {
        const err = await refusal(p);
        assert.ok(err !== null && /NOPERM/.test(err), `${what}: expected NOPERM, got ${err ?? 'success'}`);
      }
      assert.equal(await admin.get(metricsKey('db-1')), 'db-sample');
      assert.equal(await admin.xlen(historyKey('db-1')), before.history);
      assert.equal(await admin.get(LEADER_KEY), 'replica-a');
      assert.ok((await admin.pttl(LEADER_KEY)) <= 60_000);
      assert.equal(await admin.hget(ALERTS_STATE_KEY, 'fp'), 'real-state');
      assert.equal(await admin.exists(ALERTS_EVENTS_KEY), before.events);
      assert.equal(await admin.type(CONTAINERS_KEY), 'zset');
    } finally {
      web.disconnect();
    }
    const nobody = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, enableReadyCheck: false });
    try {
      assert.equal(await nobody.ping(), 'PONG', 'the default user may PING (health checks)');
      assert.match(await refusal(nobody.get(metricsKey('db-1'))) ?? 'success', /NOPERM/);
      assert.match(await refusal(nobody.set(LEADER_KEY, 'x')) ?? 'success', /NOPERM/);
    } finally {
      nobody.disconnect();
    }
    await admin.del(metricsKey('db-1'), historyKey('db-1'), LEADER_KEY, ALERTS_STATE_KEY, metricsKey('web-1'), historyKey('web-1'));
    await admin.acl('LOG', 'RESET');
  });

  it('the whole system works under these users: agents publish, the aggregator leads, alerts fire and webhooks go out; nothing is refused', async () => {
    const rx = new Receiver(() => 200);
    await rx.start();
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, [
      'notify:',
      `  webhooks: ["${rx.url}"]`,
      'rules:',
      '  - id: cpu_any',
      '    name: CPU seen',
      '    metric: cpu_percent',
      '    comparator: ">="',
      '    warn: 0',
      '',
    ].join('\n'));
    const agents = ['web-1', 'db-1'].map((name) => new AgentProcess([], {
      ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, INTERVAL_SECONDS: '1',
      VALKEY_HOST: '127.0.0.1', VALKEY_PORT: String(port), VALKEY_USERNAME: agentUserName(name), VALKEY_PASSWORD: name === 'web-1' ? PASSWORDS.web : PASSWORDS.db,
    }));
    const httpPort = await freePort();
    const agg = new AgentProcess([], {
      PORT: String(httpPort), INTERVAL_SECONDS: '1', ALERT_RULES_FILE: rules,
      VALKEY_URL: `redis://aggregator:${PASSWORDS.aggregator}@127.0.0.1:${port}`,
    }, 'aggregator/src/main.ts');
    try {
      await agg.waitForLog(/aggregator listening/, 20_000);
      const base = `http://127.0.0.1:${httpPort}`;
      const until = Date.now() + 20_000;
      let seen: { name: string; status: string }[] = [];
      while (Date.now() < until) {
        const r = await fetch(`${base}/api/v1/containers`);
        seen = ((await r.json()) as { containers: { name: string; status: string }[] }).containers;
        if (seen.filter((c) => c.status === 'ok').length === 2 && rx.successes().length >= 2) break;
        await sleep(200);
      }
      assert.deepEqual(seen.map((c) => `${c.name}:${c.status}`).sort(), ['db-1:ok', 'web-1:ok']);
      const alerted = rx.successes().map((q) => (q.body as { alerts: { labels: { container: string } }[] }).alerts[0]?.labels.container).sort();
      assert.deepEqual(alerted, ['db-1', 'web-1'], 'the leader sent one webhook per container');
      assert.match(await admin.get(LEADER_KEY) ?? '', /./, 'the aggregator holds the leader lock');
      assert.equal(await admin.hlen(ALERTS_STATE_KEY) >= 2, true, 'the leader wrote the alert state');
      assert.ok((await admin.xlen(historyKey('web-1'))) > 0);
      const logs = await (await fetch(`${base}/api/v1/system/logs?container=web-1`)).json() as { logs?: unknown[] };
      assert.ok(Array.isArray(logs.logs) && logs.logs.length > 0, 'the agent wrote its log entries and index');
      const denied = await admin.acl('LOG') as unknown[];
      assert.deepEqual(denied, [], 'no command of the agents or the aggregator was refused');
      for (const a of agents) {
        assert.deepEqual(a.said(/NOPERM|not allowed/i), []);
        assert.equal(/NOPERM|ready check/.test(a.stderr), false, a.stderr);
      }
      assert.equal(agg.stderr.includes('NOPERM'), false, agg.stderr);
    } finally {
      await agg.stop();
      for (const a of agents) await a.stop();
      await rx.stop();
    }
  });
});

describe('the compose example', () => {
  it("gives every monitored service and the aggregator the user and password of examples/valkey/users.acl", async () => {
    const compose = parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment?: Record<string, string>; command?: string[] }> };
    const pairs: string[] = [];
    for (const svc of Object.values(compose.services)) {
      const env = svc.environment ?? {};
      if (env.CONTAINER_NAME !== undefined) {
        assert.equal(env.VALKEY_USERNAME, agentUserName(env.CONTAINER_NAME), `${env.CONTAINER_NAME}'s VALKEY_USERNAME`);
        pairs.push(`${env.CONTAINER_NAME}=${env.VALKEY_PASSWORD ?? ''}`);
      } else if (env.VALKEY_USERNAME === HOST_AGENT_USER) {
        // The host agent writes every container's keys under a user of its own.
        pairs.push(`${HOST_AGENT_USER}=${env.VALKEY_PASSWORD ?? ''}`);
      } else if (env.VALKEY_HOST !== undefined) {
        assert.equal(env.VALKEY_USERNAME, 'aggregator');
        pairs.unshift(`aggregator=${env.VALKEY_PASSWORD ?? ''}`);
      }
    }
    assert.equal(pairs.length, 6, 'aggregator, valkey, postgres, node-app, gpu, host-agent');
    const file = readFileSync(join(REPO, 'examples/valkey/users.acl'), 'utf8');
    assert.equal(file, aclFile(pairs), 'the file is what scripts/valkey-acl.ts makes for these passwords');
    assert.ok(compose.services.valkey?.command?.join(' ').includes('--aclfile /etc/valkey/users.acl'));

    // redis-server loads it, and an agent's password from compose works for its own key only.
    const port = await freePort();
    const server = new RedisServer(port, ['--aclfile', join(REPO, 'examples/valkey/users.acl')]);
    await server.start();
    const pg = client(port, 'agent-example-postgres', 'example-postgres-password');
    try {
      assert.equal(await pg.set(metricsKey('example-postgres'), '{}'), 'OK');
      assert.match(await refusal(pg.set(metricsKey('valkey'), '{}')) ?? 'success', /NOPERM/);
      // The host agent writes any container's sample and history, and nothing outside system:.
      const hostAgent = client(port, HOST_AGENT_USER, 'example-host-agent-password');
      try {
        assert.equal(await hostAgent.set(metricsKey('valkey'), '{}'), 'OK');
        assert.ok(await hostAgent.xadd(historyKey('example-postgres'), '*', 'f', '1'));
        assert.match(await refusal(hostAgent.set('other:key', '{}')) ?? 'success', /NOPERM/);
        assert.match(await refusal(hostAgent.del(metricsKey('valkey'))) ?? 'success', /NOPERM/);
      } finally {
        hostAgent.disconnect();
      }
    } finally {
      pg.disconnect();
      await server.stop();
    }
  });
});
