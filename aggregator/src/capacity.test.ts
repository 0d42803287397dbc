import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkCapacity, parseCapacityQuery } from './capacity.js';
import { makePayload } from '../test/helpers/payload.js';

const now = Date.parse('2026-01-01T00:00:01.000Z');

describe('checkCapacity', () => {
  it('memory: limit 1 GB, working set 0.7 GB → 0.5 GB does not fit, 0.1 GB does', () => {
    const p = makePayload({ memory_limit_bytes: 1e9, working_set_bytes: 0.7e9 });
    const no = checkCapacity(p, { memory_bytes: 0.5e9 }, { now });
    assert.equal(no.fits, false);
    assert.equal(no.memory?.available, 0.3e9);
    assert.equal(no.memory?.minimum, 0.2e9);
    assert.equal(no.reason, 'does not fit: memory: needs 0.5 GB, 0.3 GB available, would leave -0.2 GB (minimum 0.2 GB)');
    const yes = checkCapacity(p, { memory_bytes: 0.1e9 }, { now });
    assert.equal(yes.fits, true);
    assert.equal(yes.reason, 'fits: memory: needs 0.1 GB, 0.3 GB available, would leave 0.2 GB (minimum 0.2 GB)');
  });

  it('cpu and a custom buffer; both must fit', () => {
    const p = makePayload({ limit_cores: 4, cores_used: 1 });
    const a = checkCapacity(p, { cpu_cores: 2 }, { now, buffer: 0.25 });
    assert.equal(a.fits, true, '3 available, leaves 1 = 25 % of 4');
    const b = checkCapacity(p, { cpu_cores: 2.5, memory_bytes: 1 }, { now, buffer: 0.25 });
    assert.equal(b.cpu?.fits, false);
    assert.equal(b.memory?.fits, true);
    assert.equal(b.fits, false);
    assert.match(b.reason, /CPU: needs 2\.5 cores, 3 cores available, would leave 0\.5 cores \(minimum 1 cores\)/);
  });

  it('unknown limits, stale and exited samples cannot answer yes', () => {
    assert.match(checkCapacity(makePayload({ limit_cores: null }), { cpu_cores: 0.1 }, { now }).reason, /CPU limit unknown/);
    const stale = checkCapacity(makePayload({}), { cpu_cores: 0.1 }, { now: now + 60_000 });
    assert.equal(stale.fits, false);
    assert.match(stale.reason, /latest sample of web-1 is 61 s old/);
    assert.throws(() => checkCapacity(makePayload({}), { cpu_cores: 1 }, { buffer: 1 }), /buffer must be from 0 to below 1/);
  });
});

describe('parseCapacityQuery', () => {
  it('validates parameters with clear errors', () => {
    const ok = parseCapacityQuery({ container: 'web-1', memory_bytes: '500000000' });
    assert.deepEqual(ok, { ok: true, query: { container: 'web-1', memory_bytes: 500000000 } });
    const e = (p: Record<string, string | undefined>): string => {
      const r = parseCapacityQuery(p);
      return r.ok ? 'ok' : r.error;
    };
    assert.equal(e({ memory_bytes: '1' }), 'container is required');
    assert.equal(e({ container: 'a' }), 'give cpu_cores and/or memory_bytes');
    assert.equal(e({ container: 'a', cpu_cores: 'lots' }), 'cpu_cores must be a positive number');
    assert.equal(e({ container: 'a', memory_bytes: '1.5' }), 'memory_bytes must be a whole number');
    assert.match(e({ container: 'a', cpu_cores: '1', buffer: '1.5' }), /buffer must be a fraction/);
  });
});
