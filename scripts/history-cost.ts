/**
 * `npx tsx scripts/history-cost.ts [days]`: Valkey memory per container for
 * the history the agent and the aggregator keep, measured with
 * `MEMORY USAGE` on a local redis-server after simulating `days` (default 7)
 * of one container publishing every 5 s: raw entries exactly as the agent
 * writes them (real payload from the docker-v2 fixture with one GPU, values
 * varied per sample so nothing compresses unrealistically), rolled up every
 * minute by the aggregator's RollupWriter with a simulated clock.
 */
import { Redis } from 'ioredis';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { RollupWriter } from '../aggregator/src/history/rollup-writer.js';
import { historyFields, historyFieldNames } from '../shared/src/history.js';
import { historyKey, rollupKey } from '../shared/src/keys.js';
import type { Payload } from '../shared/src/payload.js';
import { fixtureSample } from './fixture-sample.js';

const days = Number(process.argv[2] ?? 7);

function varied(p: Payload, i: number): Payload {
  const r = (base: number): number => Math.round(base * (0.5 + Math.abs(Math.sin(i * 12.9898)) ) * 1000) / 1000;
  return {
    ...p,
    cpu_percent: r(40),
    memory_usage_bytes: Math.round(r(3e8)),
    memory_percent: r(30),
    cpu: p.cpu === null ? null : { ...p.cpu, cores_used: r(0.7), throttled_percent: r(5) },
    memory: p.memory === null ? null : { ...p.memory, working_set_bytes: Math.round(r(2e8)) },
    network: p.network === null ? null : { ...p.network, rx_bytes_per_sec: r(1e5), tx_bytes_per_sec: r(5e4) },
    io: p.io === null ? null : { ...p.io, read_bytes_per_sec: r(2e4), write_bytes_per_sec: r(4e4) },
    pressure: p.pressure,
    gpus: [{ utilization_percent: r(60), memory_used_bytes: Math.round(r(8e9)), temperature_c: r(60) }] as Payload['gpus'],
  };
}

async function main(): Promise<void> {
  const server = new RedisServer(await freePort());
  await server.start();
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  try {
    const tpl = await fixtureSample('cost');
    const start = Date.UTC(2026, 0, 1);
    let now = start;
    const writer = new RollupWriter(redis, { clock: () => now });
    let i = 0;
    for (let minute = 0; minute < days * 1440; minute++) {
      const p = redis.pipeline();
      for (let k = 0; k < 12; k++, i++) {
        const ts = start + i * 5000;
        p.xadd(historyKey('cost'), 'MAXLEN', '~', '720', `${ts}-0`, ...historyFields(varied(tpl, i), ts));
      }
      await p.exec();
      now = start + (minute + 1) * 60_000 + 15_000;
      if (minute % 5 === 4) await writer.roll('cost');
    }
    const usage = async (key: string): Promise<{ entries: number; bytes: number }> => ({
      entries: await redis.xlen(key),
      bytes: Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')),
    });
    const raw = await usage(historyKey('cost'));
    const m1 = await usage(rollupKey('1m', 'cost'));
    const m5 = await usage(rollupKey('5m', 'cost'));
    process.stdout.write(`${JSON.stringify({ days, fields: historyFieldNames.length - 1, raw, rollup_1m: m1, rollup_5m: m5, total_mb: Math.round(((raw.bytes + m1.bytes + m5.bytes) / 1e6) * 100) / 100 }, null, 2)}\n`);
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

await main();
