import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSample, sampleIdentity } from './sample.js';

describe('sampleIdentity (a poll skips values it already parsed)', () => {
  const raw = (seq: number, ts: string, pad = 4000): string => JSON.stringify({ container_name: 'web-1', timestamp: ts, pad: 'x'.repeat(pad), seq });
  it('the same sample reads the same; a new seq, timestamp or length does not', () => {
    const a = raw(41, '2026-12-02T10:00:00.000Z');
    assert.equal(sampleIdentity(a), sampleIdentity(`${a.slice(0, 10)}${a.slice(10)}`));
    const ids = new Set([a, raw(42, '2026-12-02T10:00:00.000Z'), raw(41, '2026-12-02T10:00:05.000Z'), raw(41, '2026-12-02T10:00:00.000Z', 3999)].map(sampleIdentity));
    assert.equal(ids.size, 4);
  });
  it('values without a timestamp or seq have no identity (they are always parsed)', () => {
    assert.equal(sampleIdentity('{"seq":1}'), null);
    assert.equal(sampleIdentity('{"timestamp":"2026-12-02T10:00:00Z"}'), null);
    assert.equal(sampleIdentity('{"timestamp":"yesterday","seq":1}'), null);
    assert.equal(sampleIdentity('not json'), null);
  });
});

describe('parseSample', () => {
  it('names what is wrong and never throws', () => {
    assert.deepEqual(parseSample('{oops'), { ok: false, reason: 'not_json', error: 'not JSON' });
    const r = parseSample('{"container_name": 5}');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /\w+: /);
  });
});
