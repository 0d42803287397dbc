import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gpuAssignment } from './docker-discovery.js';
import { containerListSchema, engineEventSchema, inspectSchema } from './docker-schemas.js';

const ID = '4f'.repeat(32);

/** Trimmed from a real `GET /containers/<id>/json` of Docker 20.10. */
function inspected(over: { env?: string[] | null; requests?: unknown } = {}): unknown {
  return {
    Id: ID,
    Name: '/smhost-web',
    State: { Status: 'running', Running: true, Pid: 4242, ExitCode: 0, StartedAt: '2026-12-06T14:00:00Z' },
    Config: { Hostname: '4f4f4f4f4f4f', Labels: null, Env: over.env === undefined ? ['PATH=/usr/bin'] : over.env },
    HostConfig: { CgroupParent: '', NanoCpus: 500000000, Memory: 134217728, DeviceRequests: over.requests ?? null },
  };
}

describe('Docker API answers', () => {
  it('inspect: null labels and env become empty, the rest is kept', () => {
    const c = inspectSchema.parse(inspected({ env: null }));
    assert.deepEqual(c.Config.Labels, {});
    assert.deepEqual(c.Config.Env, []);
    assert.equal(c.State.Pid, 4242);
  });

  it('refuses answers that are not what the Engine API sends', () => {
    assert.equal(inspectSchema.safeParse({ ...(inspected() as object), Id: 'abc' }).success, false);
    assert.equal(inspectSchema.safeParse({ ...(inspected() as object), State: { Running: 'yes' } }).success, false);
    assert.equal(containerListSchema.safeParse({ Id: ID }).success, false);
    assert.equal(containerListSchema.safeParse([{ Id: ID, Names: ['/a'], Labels: { a: 1 }, State: 'running' }]).success, false);
    assert.equal(engineEventSchema.safeParse({ Type: 'container', Action: 'die' }).success, false);
  });

  it('GPUs assigned by --gpus (device requests) or NVIDIA_VISIBLE_DEVICES', () => {
    const g = (over: { env?: string[]; requests?: unknown }): ReturnType<typeof gpuAssignment> => gpuAssignment(inspectSchema.parse(inspected(over)));
    assert.deepEqual(g({}), { all: false, ids: [] });
    assert.deepEqual(g({ requests: [{ Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']] }] }), { all: true });
    assert.deepEqual(g({ requests: [{ Driver: 'nvidia', Count: 0, DeviceIDs: ['GPU-1', '3'], Capabilities: [['gpu']] }] }), { all: false, ids: ['GPU-1', '3'] });
    assert.deepEqual(g({ requests: [{ Driver: 'other', Count: -1, Capabilities: [['fpga']] }] }), { all: false, ids: [] });
    assert.deepEqual(g({ env: ['NVIDIA_VISIBLE_DEVICES=all'] }), { all: true });
    assert.deepEqual(g({ env: ['NVIDIA_VISIBLE_DEVICES=0, GPU-2'] }), { all: false, ids: ['0', 'GPU-2'] });
    assert.deepEqual(g({ env: ['NVIDIA_VISIBLE_DEVICES=none'] }), { all: false, ids: [] });
  });
});
