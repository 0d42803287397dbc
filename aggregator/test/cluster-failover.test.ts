import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { z } from 'zod';
import { AgentProcess, fixtureEnv } from '../../agent/test/helpers/agent-process.js';
import { RedisCluster } from '../../agent/test/helpers/redis-cluster.js';
import { freePort } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';
import { ALERTS_STATE_KEY, CONTAINERS_KEY, LEADER_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { Receiver } from './helpers/receiver.js';

/**
 * Issue 19: a real 3-master, 3-replica Redis Cluster, 5 agent processes
 * and 2 aggregator replicas. The master holding the leader lock is killed
 * (SIGKILL); after its replica takes over, every agent publishes again, both
 * aggregators list every container ok, one leader remains, no webhook goes
 * out twice and no process grew while the slots were unserved. Then the
 * killed node is started again (it rejoins as a replica) and the whole
 * thing is repeated by killing the master that replaced it.
 */

const INTERVAL_MS = 1000;
const NODE_TIMEOUT_MS = 1000;
const AGENTS = 5;
/** Our polling of keys and cluster state adds up to this much to what we measure. */
const MEASURE_SLACK_MS = 500;
/** RSS growth allowed over the outage: a buffer of samples or commands would grow without bound; GC noise does not pass this. */
const MAX_RSS_GROWTH_BYTES = 40 * 1024 * 1024;

const listSchema = z.object({ containers: z.array(z.object({ name: z.string(), status: z.string() })) });
const webhookSchema = z.object({ alerts: z.array(z.object({ status: z.string(), fingerprint: z.string(), startsAt: z.string() })) });

interface Round {
  killedPort: number;
  failoverMs: number;
  republishMs: number[];
  listedOkMs: number;
}

describe('Valkey Cluster failover with 5 agents and 2 aggregators', () => {
  const cluster = new RedisCluster(3, NODE_TIMEOUT_MS);
  const rx = new Receiver(() => 200);
  const agents = new Map<string, AgentProcess>();
  const aggs: { proc: AgentProcess; base: string }[] = [];
  let client: Cluster | null = null;
  let dir = '';
  const rounds: Round[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sm-cluster-failover-'));
    await cluster.start();
    await rx.start();
    const seed = cluster.ports[0] ?? 0;
    // Container names spread over all three masters (at most two on each, so five names span all three):
    // every master's loss costs some agent its key.
    const byMaster = new Map<number, string[]>();
    for (let i = 0; [...byMaster.values()].flat().length < AGENTS && i < 500; i++) {
      const name = `cf-${i}`;
      const m = await cluster.masterOf(metricsKey(name), seed);
      const list = byMaster.get(m) ?? [];
      if (list.length < 2) byMaster.set(m, [...list, name]);
    }
    assert.equal(byMaster.size, 3, 'test names on every master');
    const env = { INTERVAL_SECONDS: String(INTERVAL_MS / 1000), VALKEY_CLUSTER_NODES: cluster.seeds };
    for (const name of [...byMaster.values()].flat().slice(0, AGENTS)) {
      agents.set(name, new AgentProcess([], { ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, ...env }));
    }
    const rules = join(dir, 'rules.yaml');
    // Fires for every container at once (the fixture's memory is ~25 % of its limit): one webhook per container, exactly once.
    writeFileSync(rules, ['notify:', `  webhooks: ["${rx.url}"]`, 'rules:', '  - id: mem', '    name: Memory used', '    metric: memory_percent', '    warn: 1'].join('\n'));
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      aggs.push({ proc: new AgentProcess([], { PORT: String(port), ...env, ALERT_RULES_FILE: rules }, 'aggregator/src/main.ts'), base: `http://127.0.0.1:${port}` });
    }
    for (const a of aggs) await a.proc.waitForLog(/aggregator listening/, 30_000);
    // Fails fast on a dead master's keys (no retries through the failover), so watching the keys stays fine-grained.
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })), { enableOfflineQueue: true, maxRedirections: 1, redisOptions: { commandTimeout: 200 } });
    client.on('error', () => undefined);
  });

  after(async () => {
    for (const a of agents.values()) await a.stop();
    for (const a of aggs) await a.proc.stop();
    client?.disconnect();
    await rx.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    if (rounds.length > 0) process.stdout.write(`# cluster failover rounds: ${JSON.stringify(rounds)}\n`);
  });

  const need = (): Cluster => {
    if (client === null) throw new Error('cluster client not started');
    return client;
  };

  /** Unix ms of each container's latest sample, read through the cluster (null where the key cannot be read now). */
  const sampleTimes = async (): Promise<Map<string, number | null>> => {
    const out = new Map<string, number | null>();
    await Promise.all(
      [...agents.keys()].map(async (name) => {
        try {
          const raw = await need().get(metricsKey(name));
          out.set(name, raw === null ? null : Date.parse((JSON.parse(raw) as { timestamp: string }).timestamp));
        } catch {
          out.set(name, null);
        }
      }),
    );
    return out;
  };

  const allOk = async (base: string): Promise<boolean> => {
    try {
      const r = listSchema.parse(await (await fetch(`${base}/api/v1/containers`)).json());
      return [...agents.keys()].every((n) => r.containers.some((c) => c.name === n && c.status === 'ok'));
    } catch {
      return false;
    }
  };

  /** Replicas whose last leadership message says they lead. */
  const leaders = (): number =>
    aggs.filter(({ proc }) => {
      const last = proc.said(/aggregator leader$/).at(-1);
      return last !== undefined && /^became/.test(last.msg);
    }).length;

  /** (fingerprint, status, startsAt) of every delivered alert, with how often it came. */
  const deliveries = (): Map<string, number> => {
    const seen = new Map<string, number>();
    for (const r of rx.successes()) {
      const body = webhookSchema.safeParse(r.body);
      if (!body.success) continue;
      for (const a of body.data.alerts) {
        const k = `${a.fingerprint}/${a.status}/${a.startsAt}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
    }
    return seen;
  };

  /** `system_monitor_samples_received_total` (samples that came by pub/sub) of one aggregator. */
  const pubsubSamples = async (base: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = /^system_monitor_samples_received_total (\d+)$/m.exec(text);
    if (m === null) throw new Error('no system_monitor_samples_received_total on /metrics');
    return Number(m[1]);
  };

  const rssAll = (): number[] => [...agents.values(), ...aggs.map((a) => a.proc)].map((p) => p.rssBytes());

  /** Kills the master serving the leader lock, measures the recovery and checks everything the issue asks. */
  const failoverRound = async (): Promise<Round> => {
    // Every node runs when a round starts.
    const seed = cluster.ports[0] ?? 0;
    const killedPort = await cluster.masterOf(LEADER_KEY, seed);
    const owned = await Promise.all([CONTAINERS_KEY, ALERTS_STATE_KEY, ...[...agents.keys()].map(metricsKey)].map(async (k) => ((await cluster.masterOf(k, seed)) === killedPort ? k : null)));
    await until('every aggregator lists every container ok before the kill', async () => ((await Promise.all(aggs.map((a) => allOk(a.base)))).every(Boolean) ? true : null), 30_000);
    await until('exactly one leader before the kill', () => (leaders() === 1 ? true : null), 15_000);
    const rssBefore = rssAll();
    const rssPeak = [...rssBefore];
    const killedAt = Date.now();
    await cluster.node(killedPort).stop();
    // Watch RSS, the cluster and the agents' keys until everything is back.
    const republished = new Map<string, number>();
    let failoverAt: number | null = null;
    let listedOkAt: number | null = null;
    const survivors = cluster.ports.filter((p) => p !== killedPort);
    const deadline = killedAt + 30_000;
    const running = (): boolean => Date.now() < deadline && (failoverAt === null || republished.size < agents.size || listedOkAt === null);
    // Separate watchers, so a slow one (cluster queries, HTTP) does not coarsen the others' timing.
    const watch = async (everyMs: number, step: () => Promise<void> | void): Promise<void> => {
      while (running()) {
        await step();
        await sleep(everyMs);
      }
    };
    await Promise.all([
      watch(100, () => {
        rssAll().forEach((v, i) => {
          rssPeak[i] = Math.max(rssPeak[i] ?? 0, v);
        });
      }),
      watch(50, async () => {
        if (failoverAt !== null) return;
        // Over when a survivor names another master for the killed one's slots and every slot is served again.
        try {
          const owner = await cluster.masterOf(LEADER_KEY, survivors[0] ?? 0);
          if (owner !== killedPort) {
            await cluster.waitHealthy(1, [killedPort]);
            failoverAt = Date.now();
          }
        } catch {
          // Not yet: the replica has not taken over.
        }
      }),
      watch(25, async () => {
        // When a sample taken after the kill is first seen in the store (not the sample's own time: a write may land later).
        for (const [name, t] of await sampleTimes()) if (t !== null && t > killedAt && !republished.has(name)) republished.set(name, Date.now());
      }),
      watch(50, async () => {
        if (listedOkAt === null && republished.size === agents.size && (await Promise.all(aggs.map((a) => allOk(a.base)))).every(Boolean)) listedOkAt = Date.now();
      }),
    ]);
    // The survivors' own logs say why no replica took over (too old data, no votes, ...).
    const logs = (): string => survivors.map((p) => `--- ${p}\n${cluster.node(p).lastOutput().split('\n').slice(-8).join('\n')}`).join('\n');
    assert.notEqual(failoverAt, null, failoverAt === null ? `no replica took over port ${killedPort}'s slots within 30 s (survivors ${survivors.join(',')}); their last log lines:\n${logs()}` : '');
    const failoverMs = (failoverAt ?? 0) - killedAt;
    const republishMs = [...agents.keys()].map((n) => (republished.get(n) ?? Infinity) - killedAt);
    const round: Round = { killedPort, failoverMs, republishMs, listedOkMs: (listedOkAt ?? Infinity) - killedAt };
    rounds.push(round);
    const limit = failoverMs + INTERVAL_MS + MEASURE_SLACK_MS;
    republishMs.forEach((ms, i) => {
      assert.ok(ms <= limit, `agent ${[...agents.keys()][i] ?? ''} published again ${ms} ms after the kill; failover took ${failoverMs} ms, limit ${limit} ms (killed master held ${owned.filter((k) => k !== null).join(', ')})`);
    });
    assert.ok(listedOkAt !== null, 'both aggregators list every container ok again');
    // Pub/sub is back too, wherever the channel's slot went: both replicas receive samples again.
    const received = await Promise.all(aggs.map((a) => pubsubSamples(a.base)));
    await until('samples by pub/sub on both aggregators after the failover', async () => ((await Promise.all(aggs.map((a) => pubsubSamples(a.base)))).every((n, i) => n >= (received[i] ?? 0) + AGENTS) ? true : null), 10_000);
    // Leadership settles within the lock's lifetime (5 s) at most.
    await sleep(5500);
    assert.equal(leaders(), 1, 'exactly one leader remains');
    rssPeak.forEach((peak, i) => {
      assert.ok(peak - (rssBefore[i] ?? 0) < MAX_RSS_GROWTH_BYTES, `process ${i} grew ${((peak - (rssBefore[i] ?? 0)) / 1048576).toFixed(1)} MiB during the outage`);
    });
    for (const [k, n] of deliveries()) assert.equal(n, 1, `webhook ${k} delivered ${n} times`);
    return round;
  };

  it('serves logs, history and pub/sub samples from the cluster', async () => {
    for (const a of agents.values()) await a.waitForLog(/Valkey connected; publishing/, 30_000);
    const names = [...agents.keys()];
    const base = aggs[0]?.base ?? '';
    // Each agent's start event is a log key of its own, on whatever slot it hashes to: the read is split per node.
    const logs = z.object({ summary: z.object({ containers: z.array(z.string()) }) });
    await until('a start log entry of every agent', async () => {
      const r = logs.safeParse(await (await fetch(`${base}/api/v1/system/logs?container=all&lines=100`)).json());
      return r.success && names.every((n) => r.data.summary.containers.includes(n)) ? true : null;
    }, 20_000);
    const history = z.object({ resolution: z.literal('raw'), points: z.array(z.object({ ts: z.number() })) });
    await until('raw history of every container', async () => {
      const got = await Promise.all(
        names.map(async (n) => {
          const r = await fetch(`${base}/api/v1/containers/${n}/history?resolution=raw`);
          // 404 until the aggregator's first poll has seen the container.
          const body: unknown = await r.json();
          const parsed = history.safeParse(body);
          if (r.status === 200 && !parsed.success) throw new Error(`history of ${n}: unexpected answer ${JSON.stringify(body).slice(0, 300)}`);
          return parsed.success ? parsed.data.points.length : 0;
        }),
      );
      return got.every((n) => n >= 2) ? true : null;
    }, 20_000);
    // Both replicas subscribed on the shard that owns the channel (SSUBSCRIBE), and samples arrive that way.
    const owner = await cluster.masterOf(METRICS_CHANNEL, cluster.ports[0] ?? 0);
    await until(`two sharded subscribers on ${owner}`, async () => {
      const shard = (await cluster.command(owner, ['pubsub', 'shardnumsub', METRICS_CHANNEL])) as [string, number];
      return shard[1] === 2 ? true : null;
    }, 20_000);
    await until('samples by pub/sub on both aggregators', async () => ((await Promise.all(aggs.map((a) => pubsubSamples(a.base)))).every((n) => n >= AGENTS) ? true : null), 20_000);
  });

  it('survives the loss of the master holding the leader lock, then of its successor after the first one is back', async () => {
    for (const a of agents.values()) await a.waitForLog(/Valkey connected; publishing/, 30_000);
    const firingCount = (): number => [...deliveries().keys()].filter((k) => k.includes('/firing/')).length;
    await until('a firing webhook for every container', () => (firingCount() >= AGENTS ? true : null), 30_000);
    // Every replica synced, or the killed master's replica refuses to take over (its data counts as too old).
    await cluster.waitReplicasLinked(30_000);
    const first = await failoverRound();
    // The killed node comes back: it rejoins as a replica of the master that took its slots.
    const back = cluster.node(first.killedPort);
    await back.start();
    await cluster.waitHealthy(20_000);
    await until(
      'the restarted node to be a replica again',
      async () => ((await cluster.topology(first.killedPort)).find((n) => n.port === first.killedPort)?.role === 'slave' ? true : null),
      20_000,
    );
    // It must have synced before its master dies, or the data it would take over is empty.
    await until('the restarted replica in sync', async () => (/master_link_status:up/.test(String(await cluster.command(first.killedPort, ['info', 'replication']))) ? true : null), 20_000);
    const second = await failoverRound();
    assert.notEqual(second.killedPort, first.killedPort, 'the second round killed the replacement master');
    assert.ok(firingCount() >= AGENTS, `one firing webhook per container at least (got ${firingCount()})`);
  });
});
