import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makePayload } from '../../test/helpers/payload.js';
import { AlertEngine, fingerprintOf } from './engine.js';
import { rulesFileSchema } from './rule-schema.js';

const rules = rulesFileSchema.parse({
  rules: [
    { id: 'mem', name: 'Memory', metric: 'memory_percent', warn: 90, for: '1m' },
    { id: 'down', name: 'Down', kind: 'container_down', stale_intervals: 3, critical_intervals: 10 },
  ],
});

describe('AlertEngine bounds', () => {
  it('holds at most maxInstances; new ones beyond are refused and counted, existing ones still move', () => {
    let now = 1_000_000;
    const e = new AlertEngine(rules, () => now, 3);
    for (let i = 0; i < 5; i++) e.onSample(makePayload({ name: `c-${i}`, memory_percent: 95 }));
    assert.equal(e.all().length, 3);
    assert.equal(e.refusedInstances, 2);
    // A held instance still changes state: c-0 clears.
    now += 1000;
    e.onSample(makePayload({ name: 'c-0', memory_percent: 10 }));
    assert.equal(e.get(fingerprintOf('mem', 'c-0', null))?.state, 'inactive');
  });

  it('forgetContainer drops a container\'s instances and last-seen entry, so it is never reported down', () => {
    let now = 1_000_000;
    const e = new AlertEngine(rules, () => now, 10);
    e.onSample(makePayload({ name: 'gone', memory_percent: 95, interval_seconds: 1 }));
    e.onSample(makePayload({ name: 'kept', memory_percent: 95, interval_seconds: 1 }));
    const dropped = e.forgetContainer('gone');
    assert.deepEqual(dropped, [fingerprintOf('mem', 'gone', null)]);
    assert.equal(e.lastSeen().has('gone'), false);
    now += 60_000;
    const ts = e.tick();
    assert.ok(!ts.some((t) => t.container === 'gone'), 'no transition for a forgotten container');
    assert.ok(ts.some((t) => t.container === 'kept' && t.rule_id === 'down'), 'a remembered one that went quiet is down (the check can fail)');
  });
});
