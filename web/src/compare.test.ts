import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extremes } from './compare.js';
import { compareGpus } from './gpu-model.js';
import type { Gpu } from '../../shared/src/payload.js';

describe('compare: highest and lowest', () => {
  it('marks the extremes of each metric, all ties, and nothing when values are equal or missing', () => {
    const r = extremes(
      [
        { id: 'a', values: { util: 10, temp: 50, fan: null } },
        { id: 'b', values: { util: 90, temp: 50, fan: 30 } },
        { id: 'c', values: { util: 90, temp: 50 } },
      ],
      ['util', 'temp', 'fan'] as const,
    );
    assert.deepEqual(r.util, { high: ['b', 'c'], low: ['a'] });
    assert.deepEqual(r.temp, { high: [], low: [] }, 'all equal: no marks');
    assert.deepEqual(r.fan, { high: [], low: [] }, 'one value: no marks');
  });
  it('GPU metrics: memory and power as percent of total and limit', () => {
    const base = { utilization_percent: 50, memory_used_bytes: 10, memory_total_bytes: 100, temperature_c: 40, power_watts: 100, power_limit_watts: 400, clock_sm_mhz: 1000, fan_percent: null } as const;
    const g = (over: Partial<Gpu>): Gpu => ({ ...base, ...over }) as Gpu;
    const r = compareGpus([
      { id: 'x', container: 'c', status: 'ok', gpu: g({ memory_used_bytes: 80 }) },
      { id: 'y', container: 'c', status: 'ok', gpu: g({ power_watts: 300, power_limit_watts: 300 }) },
    ]);
    assert.deepEqual(r.memory_used_percent, { high: ['x'], low: ['y'] });
    assert.deepEqual(r.power_percent, { high: ['y'], low: ['x'] }, '300/300 = 100 % beats 100/400 = 25 %');
    assert.deepEqual(r.utilization, { high: [], low: [] });
  });
});
