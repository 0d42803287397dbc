import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { monoNs } from './rate.js';
import { DeadlineTicker } from './ticker.js';

describe('DeadlineTicker', () => {
  it('fires on fixed deadlines t0 + k*interval without accumulating drift', async () => {
    const interval = 40;
    const starts: bigint[] = [];
    const ticker = new DeadlineTicker({
      intervalMs: interval,
      clock: monoNs,
      onTick: async () => {
        starts.push(monoNs());
        // Work that takes half the interval: a naive "sleep(interval) after work" drifts by this much per tick.
        await sleep(interval / 2);
      },
    });
    ticker.start();
    await sleep(interval * 10 + interval / 2);
    await ticker.stop();
    assert.ok(starts.length >= 9, `expected ~11 ticks, got ${starts.length}`);
    const t0 = starts[0] ?? 0n;
    const last = starts[starts.length - 1] ?? 0n;
    const k = starts.length - 1;
    const driftMs = Number(last - t0) / 1e6 - k * interval;
    // A drifting loop would be k * interval/2 = ~200 ms late by now; timer jitter on a busy machine is far less.
    assert.ok(Math.abs(driftMs) < interval, `drift ${driftMs.toFixed(1)} ms after ${k} ticks`);
    assert.equal(ticker.skipped, 0);
  });

  it('skips deadlines missed by a slow tick instead of firing them in a burst', async () => {
    const interval = 30;
    const indexes: number[] = [];
    const skips: number[] = [];
    const ticker = new DeadlineTicker({
      intervalMs: interval,
      clock: monoNs,
      onTick: async ({ index }) => {
        indexes.push(index);
        if (index === 0) await sleep(interval * 3 + 5);
      },
      onSkip: (n) => skips.push(n),
    });
    ticker.start();
    await sleep(interval * 7);
    await ticker.stop();
    assert.equal(indexes[0], 0);
    assert.ok((indexes[1] ?? 0) >= 4, `the tick after the slow one must be at a future deadline, got ${indexes.join(',')}`);
    for (let i = 2; i < indexes.length; i++) assert.equal(indexes[i], (indexes[i - 1] ?? 0) + 1, 'no burst, no gap afterwards');
    assert.ok(ticker.skipped >= 3, `skipped ${ticker.skipped}`);
    assert.equal(skips.reduce((a, b) => a + b, 0), ticker.skipped);
  });

  it('skips a tick whose timer fires more than half an interval late (blocked event loop)', async () => {
    const interval = 40;
    const indexes: number[] = [];
    const ticker = new DeadlineTicker({ intervalMs: interval, clock: monoNs, onTick: ({ index }) => {
        indexes.push(index);
        return Promise.resolve();
      },
    });
    ticker.start();
    await sleep(5);
    const until = monoNs() + BigInt(interval * 1.7 * 1e6);
    while (monoNs() < until) {
      // Block the event loop across deadline 1 so its timer fires late.
    }
    await sleep(interval * 2);
    await ticker.stop();
    assert.ok(!indexes.includes(1), `deadline 1 was late and must be skipped: ${indexes.join(',')}`);
    assert.ok(ticker.skipped >= 1);
  });

  it('stop() waits for the running tick and prevents further ticks', async () => {
    let running = false;
    let count = 0;
    const ticker = new DeadlineTicker({
      intervalMs: 20,
      clock: monoNs,
      onTick: async () => {
        running = true;
        count += 1;
        await sleep(15);
        running = false;
      },
    });
    ticker.start();
    await sleep(5);
    await ticker.stop();
    assert.equal(running, false);
    const after = count;
    await sleep(60);
    assert.equal(count, after);
  });
});
