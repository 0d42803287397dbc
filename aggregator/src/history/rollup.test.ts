import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { historyEntrySchema } from '../../../shared/src/history.js';
import { maxEntries, rollup } from './rollup.js';

const entry = (ts: number, cpu: number | '', mem: number): ReturnType<typeof historyEntrySchema.parse> =>
  historyEntrySchema.parse({ ts: String(ts), cpu_percent: String(cpu), memory_bytes: String(mem) });

describe('rollup', () => {
  it('computes min/avg/max per bucket, skipping null values', () => {
    const b = rollup([entry(60_000, 10, 100), entry(65_000, 30, 300), entry(119_999, '', 200), entry(120_000, 50, 500)], 60_000);
    assert.equal(b.length, 2);
    assert.deepEqual(b[0], { start: 60_000, n: 3, fields: { cpu_percent: { min: 10, avg: 20, max: 30 }, memory_bytes: { min: 100, avg: 200, max: 300 } } });
    assert.equal(b[1]?.start, 120_000);
    assert.equal(b[1]?.fields.gpu_util_percent, undefined);
  });
  it('keeps 24 h of 1 m and 7 d of 5 m buckets', () => {
    assert.equal(maxEntries('1m'), 1440);
    assert.equal(maxEntries('5m'), 2016);
  });
});
