/**
 * `npx tsx scripts/history-cost.ts [days]`: Valkey memory per container for
 * the history the agent and the aggregator keep, measured with
 * `MEMORY USAGE` on a local redis-server after simulating `days` (default 7)
 * of one container publishing every 5 s (scripts/history-sim.ts: raw entries
 * exactly as the agent writes them, values varied per sample so nothing
 * compresses unrealistically, rolled up by the aggregator's RollupWriter).
 */
import { Redis } from 'ioredis';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { historyFieldNames } from '../shared/src/history.js';
import { historyKey, rollupKey } from '../shared/src/keys.js';
import { simulateHistory } from './history-sim.js';

const days = Number(process.argv[2] ?? 7);

async function main(): Promise<void> {
  const server = new RedisServer(await freePort());
  await server.start();
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  try {
    await simulateHistory(redis, 'cost', days, Date.UTC(2026, 0, 1) + days * 86_400_000);
    const usage = async (key: string): Promise<{ entries: number; bytes: number; encoding: unknown }> => ({
      entries: await redis.xlen(key),
      bytes: Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')),
      encoding: await redis.object('ENCODING', key),
    });
    const raw = await usage(historyKey('cost'));
    const m1 = await usage(rollupKey('1m', 'cost'));
    const m5 = await usage(rollupKey('5m', 'cost'));
    const version = (await redis.info('server')).match(/redis_version:(\S+)/)?.[1] ?? '?';
    process.stdout.write(`${JSON.stringify({ days, server: `redis ${version}`, fields: historyFieldNames.length - 1, raw, rollup_1m: m1, rollup_5m: m5, total_mb: Math.round(((raw.bytes + m1.bytes + m5.bytes) / 1e6) * 100) / 100 }, null, 2)}\n`);
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

await main();
