import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { payloadSchema } from '../../shared/src/payload.js';
import { locateCgroup } from './cgroup/locate.js';
import { createCollectors } from './collectors/index.js';
import type { AgentEnv, Collector } from './collectors/types.js';
import { Sampler } from './sampler.js';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/docker-v2/', import.meta.url));

function fixtureEnv(): AgentEnv {
  let now = 0n;
  return {
    procRoot: join(FIXTURE, 'proc'),
    sysRoot: join(FIXTURE, 'sys'),
    cgroup: locateCgroup({ procRoot: join(FIXTURE, 'proc'), cgroupRoot: join(FIXTURE, 'sys/fs/cgroup') }),
    intervalMs: 5000,
    minRateDeltaNs: 2_500_000_000n,
    diskPaths: ['/'],
    clock: () => (now += 1_000_000n),
  };
}

describe('Sampler', () => {
  it('isolates a collector that throws: its block is null, the error is published, the rest is produced', async () => {
    const env = fixtureEnv();
    const broken: Collector<'disk'> = {
      name: 'disk',
      collect: () => {
        throw new Error('statfs exploded');
      },
    };
    const collectors = [...createCollectors(env).filter((c) => c.name !== 'disk'), broken];
    const s = new Sampler(env, collectors, { containerName: 'x', version: 't', log: pino({ level: 'silent' }) });
    const p = payloadSchema.parse(await s.sample());
    assert.equal(p.disk, null);
    assert.equal(p.disk_total_bytes, null);
    assert.deepEqual(p.agent.collectors.disk, { ms: p.agent.collectors.disk?.ms, ok: false, error: 'statfs exploded' });
    assert.match(p.unavailable.disk ?? '', /statfs exploded/);
    assert.equal(p.memory_usage_bytes, 268435456);
    assert.equal(p.agent.collectors.memory?.ok, true);
  });

  it('numbers samples and reports its own cost', async () => {
    const env = fixtureEnv();
    const s = new Sampler(env, createCollectors(env), { containerName: 'x', version: '9.9.9', log: pino({ level: 'silent' }) });
    const a = await s.sample();
    const b = await s.sample();
    assert.equal(a.seq, 1);
    assert.equal(b.seq, 2);
    assert.equal(b.agent.version, '9.9.9');
    assert.equal(b.agent.pid, process.pid);
    assert.ok(b.agent.rss_bytes > 0);
    assert.deepEqual(Object.keys(b.agent.collectors).sort(), ['cpu', 'disk', 'io', 'memory', 'network', 'pids', 'pressure', 'processes', 'system']);
  });

  it('publishes the GPU source\'s block and status; a GPU source that throws loses only gpus[]', async () => {
    const env = fixtureEnv();
    const log = pino({ level: 'silent' });
    const failing = new Sampler(env, createCollectors(env), {
      containerName: 'x',
      version: 't',
      log,
      gpu: { collect: () => Promise.reject(new Error('worker pipe broke')) },
    });
    const p = payloadSchema.parse(await failing.sample());
    assert.deepEqual(p.gpus, []);
    assert.equal(p.agent.collectors.gpu?.ok, false);
    assert.match(p.unavailable.gpus ?? '', /worker pipe broke/);
    assert.equal(p.memory_usage_bytes, 268435456, 'the rest of the sample is there');

    const slow = new Sampler(env, createCollectors(env), {
      containerName: 'x',
      version: 't',
      log,
      gpu: { collect: () => Promise.resolve({ gpus: [], unavailable: { gpus: 'NVML call timed out after 5 ms' }, error: 'NVML call timed out after 5 ms', ms: 5 }) },
    });
    const q = payloadSchema.parse(await slow.sample());
    assert.deepEqual(q.agent.collectors.gpu, { ms: 5, ok: false, error: 'NVML call timed out after 5 ms' });
    assert.equal(q.unavailable.gpus, 'NVML call timed out after 5 ms');
  });
});
