import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { historyEntrySchema } from '../../../shared/src/history.js';
import { bucketFields, maxEntries, parseBucket, rollup } from './rollup.js';

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
  it('round-trips through stream fields and rejects a malformed entry', () => {
    const [b] = rollup([entry(300_000, 12.5, 7)], 300_000);
    assert.ok(b !== undefined);
    assert.deepEqual(parseBucket(bucketFields(b)), b);
    assert.throws(() => parseBucket(['ts', 'x', 'n', '1']));
    assert.throws(() => parseBucket(['ts', '1', 'n', '1', 'cpu_percent_min', 'lots', 'cpu_percent_avg', '1', 'cpu_percent_max', '1']));
  });
  it('stores statistics to 7 significant digits (relative error under 1e-6)', () => {
    const [b] = rollup([entry(0, 1, 123_456_789), entry(5000, 2, 123_456_789), entry(10_000, 2, 123_456_789)], 60_000);
    assert.ok(b !== undefined);
    const back = parseBucket(bucketFields(b)).fields;
    assert.deepEqual(back.cpu_percent, { min: 1, avg: 1.666667, max: 2 });
    const mem = back.memory_bytes?.avg ?? NaN;
    assert.equal(mem, 123_456_800);
    assert.ok(Math.abs(mem - 123_456_789) / 123_456_789 < 1e-6);
  });
  it('keeps 24 h of 1 m and 7 d of 5 m buckets', () => {
    assert.equal(maxEntries('1m'), 1440);
    assert.equal(maxEntries('5m'), 2016);
  });
});
