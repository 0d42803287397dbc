import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentProcess } from '../../test/helpers/agent-process.js';
import { ConfigError } from '../config.js';
import { loadHostConfig } from './host-config.js';

describe('system-monitor host settings', () => {
  it('the Docker socket by default, from DOCKER_HOST, or named; cgroup-only mode by --cgroup-parent', () => {
    assert.deepEqual(loadHostConfig({}, {}).discovery, { kind: 'docker', socketPath: '/var/run/docker.sock' });
    assert.deepEqual(loadHostConfig({}, { DOCKER_HOST: 'unix:///run/docker.sock' }).discovery, { kind: 'docker', socketPath: '/run/docker.sock' });
    assert.deepEqual(loadHostConfig({ dockerSocket: '/s.sock' }, {}).discovery, { kind: 'docker', socketPath: '/s.sock' });
    assert.deepEqual(loadHostConfig({}, { HOST_CGROUP_PARENT: '/docker' }).discovery, { kind: 'cgroup', parent: '/docker', dockerRoot: '/var/lib/docker' });
    // CONTAINER_NAME in the environment (a shared env file) does not name the host agent's containers.
    assert.equal(loadHostConfig({ interval: '2' }, { CONTAINER_NAME: 'x' }).agent.intervalMs, 2000);
  });

  it('refuses what makes no sense for a host agent, naming the setting', () => {
    const refused = (f: () => unknown, re: RegExp): void => {
      assert.throws(f, (err: unknown) => err instanceof ConfigError && re.test(err.message));
    };
    refused(() => loadHostConfig({ containerName: 'x' }, {}), /--container-name: the host agent names each container itself/);
    refused(() => loadHostConfig({ cgroupPath: '/x' }, {}), /--cgroup-path.*--cgroup-parent/);
    refused(() => loadHostConfig({ cgroupParent: '/docker', dockerSocket: '/s' }, {}), /choose one/);
    refused(() => loadHostConfig({ cgroupParent: 'docker' }, {}), /--cgroup-parent.*must start with "\/"/);
    refused(() => loadHostConfig({ dockerSocket: 'docker.sock' }, {}), /--docker-socket/);
    refused(() => loadHostConfig({}, { DOCKER_HOST: 'tcp://10.0.0.1:2375' }), /only unix:\/\//);
    refused(() => loadHostConfig({ interval: '0' }, {}), /--interval/);
  });

  it('without the Docker socket it exits 1 saying where it looked and what to do', async () => {
    const agent = new AgentProcess(['host', '--docker-socket', '/nonexistent/docker.sock'], { VALKEY_PORT: '1' });
    const { code } = await agent.exited(20_000);
    assert.equal(code, 1);
    const fatal = agent.logs.find((l) => l.level === 60);
    assert.match(fatal?.msg ?? '', /cannot read the Docker engine; mount its socket read-only, or use --cgroup-parent/);
    assert.match(JSON.stringify(fatal), /nonexistent\/docker\.sock/);
  });
});
