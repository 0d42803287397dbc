import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateMetric, globMatch, renderTemplate } from './metric.js';
import { makePayload } from '../../test/helpers/payload.js';

describe('evaluateMetric', () => {
  it('reads top-level and nested paths', () => {
    const p = makePayload({ memory_percent: 91.5, throttled_percent: 30 });
    assert.deepEqual(evaluateMetric(p, 'memory_percent'), [{ instance: null, value: 91.5 }]);
    assert.deepEqual(evaluateMetric(p, 'cpu.throttled_percent'), [{ instance: null, value: 30 }]);
  });
  it('gives one value per GPU, named by uuid', () => {
    const p = makePayload({ gpus: [{ uuid: 'GPU-a', temperature_c: 70 }, { uuid: 'GPU-b', temperature_c: 88, memory_used_bytes: 15.5e9, memory_total_bytes: 16e9 }] });
    assert.deepEqual(evaluateMetric(p, 'gpus[].temperature_c'), [{ instance: 'GPU-a', value: 70 }, { instance: 'GPU-b', value: 88 }]);
    assert.equal(evaluateMetric(p, 'gpus[].memory_used_percent')[1]?.value, (100 * 15.5) / 16);
  });
  it('null and missing are null, never 0', () => {
    const p = makePayload({ memory_percent: null });
    assert.deepEqual(evaluateMetric(p, 'memory_percent'), [{ instance: null, value: null }]);
    assert.deepEqual(evaluateMetric(p, 'io.read_bytes_per_sec'), [{ instance: null, value: null }]);
    assert.deepEqual(evaluateMetric(p, 'nothing.here'), [{ instance: null, value: null }]);
    assert.deepEqual(evaluateMetric(p, 'gpus[].temperature_c'), []);
  });
});

describe('globMatch / renderTemplate', () => {
  it('matches whole names with * and ?', () => {
    assert.ok(globMatch('web-1', 'web-*'));
    assert.ok(globMatch('web-1', 'web-?'));
    assert.ok(!globMatch('myweb-1', 'web-*'));
    assert.ok(!globMatch('web.1x', 'web.1'));
  });
  it('fills known names and leaves unknown ones visible', () => {
    assert.equal(renderTemplate('{{container}} at {{ value }} % {{nope}}', { container: 'db', value: '93' }), 'db at 93 % {{nope}}');
  });
});
