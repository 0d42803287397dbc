import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makePayload } from '../../test/helpers/payload.js';
import { packSample } from '../ingest/pack.js';
import { FleetEntry } from './entry.js';

describe('FleetEntry', () => {
  it('keeps the sample as JSON and gives it back whole; the digest carries the figures the views read', () => {
    const p = makePayload({ name: 'web-1' });
    const e = new FleetEntry('web-1', 1000);
    e.hold(p, packSample(JSON.stringify(p)));
    assert.deepEqual(e.sample(), p);
    assert.equal(e.sampleJson(), JSON.stringify(p));
    const d = e.digest;
    assert.ok(d !== null);
    assert.equal(d.timestamp_ms, Date.parse(p.timestamp));
    assert.equal(d.agent_pid, p.agent.pid);
    assert.equal(d.seq, p.seq);
    assert.equal(d.cores_used, p.cpu?.cores_used ?? null);
    assert.equal(d.limit_cores, p.cpu?.limit_cores ?? null);
    assert.equal(d.memory_limit_bytes, p.memory?.limit_bytes ?? null);
    assert.equal(d.gpu_count, p.gpus.length);
    for (const k of ['cpu_percent', 'memory_usage_bytes', 'network_rx_bytes', 'disk_usage_bytes', 'process_count', 'load_average_15m', 'uptime_seconds', 'status'] as const) {
      assert.equal(d[k], p[k], k);
    }
  });

  it('each call parses afresh: a caller changing its copy does not change the fleet', () => {
    const p = makePayload({ name: 'web-2' });
    const e = new FleetEntry('web-2', 1000);
    e.hold(p, packSample(JSON.stringify(p)));
    const mine = e.sample();
    assert.ok(mine !== null);
    mine.memory_usage_bytes = -1;
    assert.equal(e.sample()?.memory_usage_bytes, p.memory_usage_bytes);
  });

  it('holds nothing after drop', () => {
    const p = makePayload({ name: 'web-3' });
    const e = new FleetEntry('web-3', 1000);
    e.hold(p, packSample(JSON.stringify(p)));
    e.drop();
    assert.equal(e.digest, null);
    assert.equal(e.sample(), null);
    assert.equal(e.sampleJson(), null);
  });
});
