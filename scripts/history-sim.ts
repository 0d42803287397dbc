/**
 * One container's history as the agent and the aggregator write it, simulated
 * fast: `days` of samples every 5 s appended to the raw stream exactly as the
 * agent writes them (a real payload from the docker-v2 fixture with one GPU,
 * values varied per sample so nothing compresses unrealistically), rolled up
 * every 5 simulated minutes by the aggregator's RollupWriter on a simulated
 * clock. Used by scripts/history-cost.ts and scripts/bench-history.ts.
 */
import type { Redis } from 'ioredis';
import { RollupWriter } from '../aggregator/src/history/rollup-writer.js';
import { historyFields } from '../shared/src/history.js';
import { historyKey } from '../shared/src/keys.js';
import type { Payload } from '../shared/src/payload.js';
import { fixtureSample } from './fixture-sample.js';

/** Sample `i` of the simulation: each figure between 0.5 and 1.5 times its base, to 3 decimals, a pseudo-random step from the last. */
export function varied(p: Payload, i: number): Payload {
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

/** Writes `days` of `container`'s history ending at `end` (unix ms, a minute boundary). */
export async function simulateHistory(redis: Redis, container: string, days: number, end: number): Promise<void> {
  const tpl = await fixtureSample(container);
  const start = end - days * 86_400_000;
  let now = start;
  const writer = new RollupWriter(redis, { clock: () => now });
  let i = 0;
  for (let minute = 0; minute < days * 1440; minute++) {
    const p = redis.pipeline();
    for (let k = 0; k < 12; k++, i++) {
      const ts = start + i * 5000;
      p.xadd(historyKey(container), 'MAXLEN', '~', '720', `${ts}-0`, ...historyFields(varied(tpl, i), ts));
    }
    await p.exec();
    now = start + (minute + 1) * 60_000 + 15_000;
    if (minute % 5 === 4) await writer.roll(container);
  }
}
