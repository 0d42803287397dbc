import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoopLagMonitor } from './loop-lag.js';

describe('LoopLagMonitor', () => {
  it('reports a stall of the event loop it watched', async () => {
    const m = new LoopLagMonitor(60_000);
    await sleep(50);
    const t0 = performance.now();
    while (performance.now() - t0 < 200) {
      // block the loop for 200 ms
    }
    await sleep(50);
    const lag = m.current();
    m.stop();
    assert.ok(lag.max_ms >= 150 && lag.max_ms <= 1000, `max ${lag.max_ms} ms for a 200 ms stall`);
    assert.ok(lag.p50_ms < lag.max_ms, 'the median is not the stall');
  });
});
