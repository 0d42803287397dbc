import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideName } from './labels.js';

describe('key names from labels', () => {
  it("the container's name without Docker's slash, or its system-monitor.name label", () => {
    assert.deepEqual(decideName('/web-1', {}), { monitor: true, name: 'web-1' });
    assert.deepEqual(decideName('/web-1', { 'system-monitor.name': ' shop-frontend ' }), { monitor: true, name: 'shop-frontend' });
    assert.deepEqual(decideName('/web-1', { 'system-monitor.name': '' }), { monitor: true, name: 'web-1' });
  });

  it('system-monitor.enable=false (any case) skips it; other values do not', () => {
    assert.equal(decideName('/x', { 'system-monitor.enable': 'FALSE' }).monitor, false);
    assert.equal(decideName('/x', { 'system-monitor.enable': 'true' }).monitor, true);
    assert.equal(decideName('/x', { 'system-monitor.enable': 'no' }).monitor, true);
  });

  it('a name that cannot be a key is refused with the reason, not changed', () => {
    const d = decideName('/x', { 'system-monitor.name': 'a:b' });
    assert.equal(d.monitor, false);
    assert.match(d.monitor ? '' : d.reason, /system-monitor\.name.*cannot be a key name/);
    assert.equal(decideName('/a b', {}).monitor, false);
    assert.equal(decideName(`/${'n'.repeat(201)}`, {}).monitor, false);
  });
});
