import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fmtAgo, fmtBytes, fmtCores, fmtDuration, fmtPercent, fmtRate, NONE, percentOf } from './format.js';

describe('format', () => {
  it('bytes in binary units with three significant digits', () => {
    assert.equal(fmtBytes(0), '0 B');
    assert.equal(fmtBytes(1023), '1023 B');
    assert.equal(fmtBytes(1536), '1.50 KiB');
    assert.equal(fmtBytes(20 * 1024 ** 3), '20.0 GiB');
    assert.equal(fmtBytes(512 * 1024 ** 2), '512 MiB');
    assert.equal(fmtRate(2048), '2.00 KiB/s');
  });
  it('a missing value is a dash, never 0', () => {
    for (const v of [null, undefined, NaN, Infinity]) {
      assert.equal(fmtBytes(v), NONE);
      assert.equal(fmtPercent(v), NONE);
      assert.equal(fmtRate(v), NONE);
    }
    assert.equal(fmtCores(null, 2), `${NONE} / 2`);
    assert.equal(percentOf(5, 0), null);
    assert.equal(percentOf(null, 10), null);
    assert.equal(percentOf(1, 4), 25);
  });
  it('durations and ages', () => {
    assert.equal(fmtDuration(12.9), '12s');
    assert.equal(fmtDuration(250), '4m 10s');
    assert.equal(fmtDuration(2 * 3600 + 5 * 60), '2h 5m');
    assert.equal(fmtDuration(3 * 86400 + 4 * 3600), '3d 4h');
    assert.equal(fmtDuration(-1), NONE);
    assert.equal(fmtAgo('2026-01-01T00:00:00.000Z', Date.parse('2026-01-01T00:00:05.000Z')), '5s ago');
    assert.equal(fmtAgo('not a time', 0), NONE);
  });
  it('percent with one decimal', () => {
    assert.equal(fmtPercent(75), '75.0 %');
    assert.equal(fmtPercent(33.333), '33.3 %');
  });
});
