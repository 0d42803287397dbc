import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatUptime } from './sirius.js';

describe('Sirius formatting', () => {
  it('bytes: base 1024, one decimal, no space, 0B for zero or missing', () => {
    assert.equal(formatBytes(0), '0B');
    assert.equal(formatBytes(null), '0B');
    assert.equal(formatBytes(512), '512B');
    assert.equal(formatBytes(1536), '1.5KB');
    assert.equal(formatBytes(512 * 1024 * 1024), '512.0MB');
    assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5GB');
    assert.equal(formatBytes(3 * 1024 ** 4), '3.0TB');
    assert.equal(formatBytes(5000 * 1024 ** 4), '5000.0TB', 'TB is the largest unit');
  });

  it('uptime: s under a minute, m s under an hour, h m under a day, else d h', () => {
    assert.equal(formatUptime(0), '0s');
    assert.equal(formatUptime(59), '59s');
    assert.equal(formatUptime(200), '3m 20s');
    assert.equal(formatUptime(2 * 3600 + 5 * 60 + 9), '2h 5m');
    assert.equal(formatUptime(4 * 86_400 + 3 * 3600 + 1), '4d 3h');
    assert.equal(formatUptime(null), '0s');
    assert.equal(formatUptime(-5), '0s');
  });
});
