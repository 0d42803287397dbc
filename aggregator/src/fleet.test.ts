import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashString, parseSample } from './fleet.js';

describe('hashString (a poll skips values it already parsed)', () => {
  it('equal strings hash equal; a one-character change, a swap or a longer string does not', () => {
    const base = JSON.stringify({ container_name: 'web-1', seq: 41, timestamp: '2026-12-02T10:00:00.000Z', pad: 'x'.repeat(4000) });
    assert.equal(hashString(base), hashString(`${base.slice(0, 100)}${base.slice(100)}`));
    const variants = [base.replace('"seq":41', '"seq":42'), base.replace('web-1', 'web-2'), `${base} `, base.replace('10:00', '01:00')];
    const hashes = new Set([base, ...variants].map(hashString));
    assert.equal(hashes.size, 5);
    for (const h of hashes) assert.ok(Number.isSafeInteger(h) && h >= 0);
  });

  it('spreads 100,000 near-identical values without a collision', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i++) seen.add(hashString(`{"seq":${i},"name":"sim"}`));
    assert.equal(seen.size, 100_000);
  });
});

describe('parseSample', () => {
  it('names what is wrong and never throws', () => {
    assert.deepEqual(parseSample('{oops'), { ok: false, error: 'not JSON' });
    const r = parseSample('{"container_name": 5}');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /\w+: /);
  });
});
