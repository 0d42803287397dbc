import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { ConfigError, loadAgentConfig } from './config.js';

describe('loadAgentConfig', () => {
  it('defaults: 5 s, hostname with a flag saying so, real /proc and /sys/fs/cgroup, disk /', () => {
    const c = loadAgentConfig({}, {});
    assert.equal(c.intervalMs, 5000);
    assert.equal(c.containerName, hostname());
    assert.equal(c.containerNameDefaulted, true);
    assert.equal(c.procRoot, '/proc');
    assert.equal(c.cgroupRoot, '/sys/fs/cgroup');
    assert.equal(c.cgroupPath, undefined);
    assert.deepEqual(c.diskPaths, ['/']);
    assert.equal(c.logLevel, 'info');
  });

  it('reads the SiriusScan and project env vars', () => {
    const c = loadAgentConfig(
      {},
      { CONTAINER_NAME: 'sirius-engine', INTERVAL_SECONDS: '2.5', CGROUP_PATH: '/docker/x', PROC_ROOT: '/host/proc', DISK_PATHS: '/, /data', LOG_LEVEL: 'DEBUG' },
    );
    assert.equal(c.containerName, 'sirius-engine');
    assert.equal(c.containerNameDefaulted, false);
    assert.equal(c.intervalMs, 2500);
    assert.equal(c.cgroupPath, '/docker/x');
    assert.equal(c.procRoot, '/host/proc');
    assert.deepEqual(c.diskPaths, ['/', '/data']);
    assert.equal(c.logLevel, 'debug');
  });

  it('GPU settings: deadline 2 s by default, 40 % of a short interval, and the NVML/host /proc paths', () => {
    const d = loadAgentConfig({}, {});
    assert.equal(d.gpuDeadlineMs, 2000);
    assert.equal(d.nvmlLibraryPath, null);
    assert.equal(d.hostProc, null);
    assert.equal(loadAgentConfig({ interval: '1' }, {}).gpuDeadlineMs, 400);
    const c = loadAgentConfig({ hostProc: '/host/proc' }, { NVML_LIBRARY_PATH: '/opt/nv/libnvidia-ml.so.1', GPU_DEADLINE_MS: '750' });
    assert.equal(c.nvmlLibraryPath, '/opt/nv/libnvidia-ml.so.1');
    assert.equal(c.hostProc, '/host/proc');
    assert.equal(c.gpuDeadlineMs, 750);
  });

  it('LOAD_TASK_READS: 4096 by default, 0 allowed (main threads only), a negative or fractional value refused', () => {
    assert.equal(loadAgentConfig({}, {}).loadTaskReads, 4096);
    assert.equal(loadAgentConfig({}, { LOAD_TASK_READS: '0' }).loadTaskReads, 0);
    assert.equal(loadAgentConfig({ loadTaskReads: '100' }, { LOAD_TASK_READS: '0' }).loadTaskReads, 100);
    assert.throws(() => loadAgentConfig({}, { LOAD_TASK_READS: '-1' }), /LOAD_TASK_READS/);
    assert.throws(() => loadAgentConfig({}, { LOAD_TASK_READS: '1.5' }), /LOAD_TASK_READS/);
  });

  it('flags win over env vars', () => {
    const c = loadAgentConfig({ interval: '10', containerName: 'a' }, { INTERVAL_SECONDS: '2', CONTAINER_NAME: 'b' });
    assert.equal(c.intervalMs, 10000);
    assert.equal(c.containerName, 'a');
  });

  const bad: [Record<string, string>, Record<string, string>, RegExp][] = [
    [{}, { INTERVAL_SECONDS: 'fast' }, /^INTERVAL_SECONDS: must be a number from 1 to 3600 \(got "fast"\)$/],
    [{ interval: '0.5' }, {}, /^--interval: must be at least 1/],
    [{}, { INTERVAL_SECONDS: '99999' }, /must be at most 3600/],
    [{}, { CONTAINER_NAME: 'a b' }, /^CONTAINER_NAME: must not contain whitespace/],
    [{}, { CONTAINER_NAME: 'x:y' }, /Valkey key/],
    [{}, { CGROUP_ROOT: 'relative/dir' }, /^CGROUP_ROOT: must be an absolute path/],
    [{}, { CGROUP_PATH: 'docker/x' }, /^CGROUP_PATH: must start with "\/"/],
    [{}, { DISK_PATHS: 'data' }, /^DISK_PATHS: must be an absolute path/],
    [{}, { LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of/],
    [{}, { NVML_LIBRARY_PATH: 'libnvidia-ml.so.1' }, /^NVML_LIBRARY_PATH: must be an absolute path/],
    [{}, { HOST_PROC: 'host/proc' }, /^HOST_PROC: must be an absolute path/],
    [{}, { GPU_DEADLINE_MS: 'soon' }, /^GPU_DEADLINE_MS \(must stay under the 5000 ms interval\): must be a number/],
    [{ interval: '2' }, { GPU_DEADLINE_MS: '2500' }, /^GPU_DEADLINE_MS \(must stay under the 2000 ms interval\): must be at most 1999/],
  ];
  for (const [flags, env, message] of bad) {
    it(`rejects ${JSON.stringify({ ...flags, ...env })} with one line naming the setting`, () => {
      assert.throws(
        () => loadAgentConfig(flags, env),
        (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
      );
    });
  }

  it('publishing settings: ttl 3 × interval but at least 15 s, a short exit ttl, history 720, logs 24 h', () => {
    const d = loadAgentConfig({}, {});
    assert.deepEqual([d.ttlSeconds, d.exitTtlSeconds, d.historyLength, d.logTtlSeconds], [15, 15, 720, 86_400]);
    const slow = loadAgentConfig({}, { INTERVAL_SECONDS: '30' });
    assert.equal(slow.ttlSeconds, 90);
    assert.equal(slow.exitTtlSeconds, 60);
    const set = loadAgentConfig({ ttl: '50' }, { METRICS_TTL_SECONDS: '20', HISTORY_LENGTH: '10', LOG_TTL_SECONDS: '3600' });
    assert.deepEqual([set.ttlSeconds, set.historyLength, set.logTtlSeconds], [50, 10, 3600], 'the flag wins over the env var');
  });

  it('refuses a ttl that would let the key expire between samples, and bad counts', () => {
    assert.throws(() => loadAgentConfig({}, { INTERVAL_SECONDS: '10', METRICS_TTL_SECONDS: '10' }), /METRICS_TTL_SECONDS: must be longer than the interval \(10 s\)/);
    assert.throws(() => loadAgentConfig({}, { HISTORY_LENGTH: '1.5' }), /HISTORY_LENGTH: must be a whole number/);
    assert.throws(() => loadAgentConfig({}, { HISTORY_LENGTH: '0' }), /HISTORY_LENGTH: must be at least 1/);
    assert.throws(() => loadAgentConfig({}, { LOG_TTL_SECONDS: '5' }), /LOG_TTL_SECONDS: must be at least 60/);
  });
});
