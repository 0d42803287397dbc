/**
 * `system-monitor host` in cgroup-only mode on real kernel cgroups (v1 here):
 * the children of one cgroup are the "containers". Checks the keys against
 * the limits written into the kernel, a sidecar measuring the same cgroup
 * in the same run, GPU attribution through the fake NVML's process list
 * (the real host PIDs of the processes in the cgroups), a container
 * appearing and one vanishing while the agent runs.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { AgentProcess } from './helpers/agent-process.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from './helpers/fake-nvml.js';
import { requireKernelCgroups, TestCgroup, uniqueName, V1_ROOT } from './helpers/kernel-cgroups.js';
import { freePort, RedisServer } from './helpers/redis-server.js';
import { until } from './helpers/until.js';

const MiB = 1024 * 1024;
const CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];
const ID_TRAINER = 'a1'.repeat(32);
const ID_OFF = 'b2'.repeat(32);
const BUSY = 'for (;;) {}';
const IDLE = 'setInterval(() => {}, 1000)';

describe('host mode, cgroup-only, on kernel cgroups', () => {
  const roots = CONTROLLERS.map((c) => join(V1_ROOT, c));
  let parent: TestCgroup;
  const kids: TestCgroup[] = [];
  let server: RedisServer;
  let redis: Redis;
  let host: AgentProcess;
  let sidecar: AgentProcess;
  let dockerRoot: string;
  let nvml: FakeNvmlDir;
  let trainerPid: number;
  let trainerCg: TestCgroup;
  let plainPid: number;
  const gpus = twoGpuConfig();

  function child(dir: string, limits: { quota?: number; memory?: number }): TestCgroup {
    const cg = new TestCgroup(`${parent.name}/${dir}`, roots);
    if (limits.quota !== undefined) {
      cg.write(join(V1_ROOT, 'cpu'), 'cpu.cfs_period_us', '100000');
      cg.write(join(V1_ROOT, 'cpu'), 'cpu.cfs_quota_us', String(limits.quota));
    }
    if (limits.memory !== undefined) cg.write(join(V1_ROOT, 'memory'), 'memory.limit_in_bytes', String(limits.memory));
    kids.push(cg);
    return cg;
  }

  async function pidOf(p: Promise<ChildProcess>): Promise<number> {
    const c = await p;
    if (c.pid === undefined) throw new Error('child did not start');
    return c.pid;
  }

  async function sample(name: string): Promise<Payload | null> {
    const raw = await redis.get(metricsKey(name));
    return raw === null ? null : payloadSchema.parse(JSON.parse(raw));
  }

  /** A sample taken after `after` (an ISO time), with rates in it. */
  function fresh(name: string, afterIso: string): Promise<Payload> {
    return until(`a sample of ${name} after ${afterIso}`, async () => {
      const s = await sample(name);
      return s !== null && s.timestamp > afterIso && s.cpu?.cores_used !== null ? s : null;
    }, 20_000);
  }

  before(async () => {
    requireKernelCgroups({ v1: CONTROLLERS, v2: false });
    parent = new TestCgroup(uniqueName('smhost'), roots);
    const trainer = child(ID_TRAINER, { quota: 50_000, memory: 96 * MiB });
    trainerCg = trainer;
    const plain = child('plain-b', { memory: 200 * MiB });
    const off = child(ID_OFF, {});
    trainerPid = await pidOf(trainer.spawnInside(BUSY));
    plainPid = await pidOf(plain.spawnInside(IDLE));
    await off.spawnInside(IDLE);

    // Docker's per-container config files name two of them (cgroup-only mode reads them when it can).
    dockerRoot = mkdtempSync(join(tmpdir(), 'smhost-docker-'));
    const config = (id: string, name: string, labels: Record<string, string>): void => {
      mkdirSync(join(dockerRoot, 'containers', id), { recursive: true });
      writeFileSync(join(dockerRoot, 'containers', id, 'config.v2.json'), JSON.stringify({ Name: `/${name}`, Config: { Hostname: `${name}-host`, Labels: labels } }));
    };
    config(ID_TRAINER, 'smhost-trainer', {});
    config(ID_OFF, 'smhost-off', { 'system-monitor.enable': 'false' });

    // GPU 0: both containers; GPU 1: the trainer alone.
    nvml = new FakeNvmlDir({ ...gpus, 'gpu.0.procs': `${trainerPid}:1073741824,${plainPid}:2147483648`, 'gpu.1.procs': `${trainerPid}:536870912` });

    const port = await freePort();
    server = new RedisServer(port);
    await server.start();
    redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    await redis.connect();
    const common = { VALKEY_HOST: '127.0.0.1', VALKEY_PORT: String(port), INTERVAL_SECONDS: '1' };
    host = new AgentProcess(['host', '--cgroup-parent', `/${parent.name}`, '--docker-root', dockerRoot], { ...common, NVML_LIBRARY_PATH: buildFakeNvml(), ...nvml.env() });
    // The sidecar the "container" plain-b would have: the same cgroup, its own key.
    sidecar = new AgentProcess(['run', '--cgroup-path', `/${parent.name}/plain-b`, '--container-name', 'smhost-sidecar-b'], common);
  });

  after(async () => {
    await host.stop();
    await sidecar.stop();
    redis.disconnect();
    await server.stop();
    for (const k of kids.reverse()) await k.remove();
    await parent.remove();
    rmSync(dockerRoot, { recursive: true, force: true });
    nvml.remove();
  });

  it('publishes one key per child, named by Docker\'s config when readable, skipping enable=false, with the limits the kernel holds and the burner\'s cores', async () => {
    const t0 = new Date().toISOString();
    const trainer = await fresh('smhost-trainer', t0);
    const plain = await fresh('plain-b', t0);
    assert.equal(await sample('smhost-off'), null);
    assert.equal(await sample(ID_OFF), null);
    assert.equal(trainer.host.hostname, 'smhost-trainer-host');
    assert.equal(trainer.cpu?.limit_cores, 0.5);
    assert.equal(trainer.memory?.limit_bytes, 96 * MiB);
    assert.equal(plain.memory?.limit_bytes, 200 * MiB);
    assert.equal(trainer.processes?.count, 1);
    assert.deepEqual(trainer.processes?.top.map((p) => p.pid), [trainerPid]);
    // Its cores against the kernel's own counter over the same few seconds (a
    // loaded machine may give it less than its quota, never more).
    const usage = (): number => Number(trainerCg.read(join(V1_ROOT, 'cpuacct'), 'cpuacct.usage').trim());
    const u0 = usage();
    const w0 = process.hrtime.bigint();
    const seen: number[] = [];
    let last = trainer;
    while (seen.length < 4) {
      last = await fresh('smhost-trainer', last.timestamp);
      seen.push(last.cpu?.cores_used ?? NaN);
    }
    const kernel = (usage() - u0) / Number(process.hrtime.bigint() - w0);
    const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
    assert.ok(Math.abs(mean - kernel) <= 0.1, `burner at ${mean} cores by the agent, ${kernel} by cpuacct.usage`);
    assert.ok(Math.max(...seen) <= 0.55, `never above its 0.5 quota: ${seen.join(', ')}`);
    const later = last;
    assert.equal(later.status, 'running');
  });

  it("agrees with the sidecar measuring the same cgroup in the same run", async () => {
    const t0 = new Date().toISOString();
    const [h, s] = await Promise.all([fresh('plain-b', t0), fresh('smhost-sidecar-b', t0)]);
    assert.equal(h.memory?.limit_bytes, s.memory?.limit_bytes);
    assert.equal(h.cpu?.limit_cores, s.cpu?.limit_cores);
    assert.equal(h.process_count, s.process_count);
    assert.equal(h.pids?.current, s.pids?.current);
    assert.equal(h.processes?.threads, s.processes?.threads);
    assert.equal(h.file_descriptors, s.file_descriptors);
    assert.equal(h.system?.uptime_source, s.system?.uptime_source);
    assert.ok(Math.abs((h.uptime_seconds ?? NaN) - (s.uptime_seconds ?? NaN)) <= 2, `uptime ${h.uptime_seconds} vs ${s.uptime_seconds}`);
    const mh = h.memory_usage_bytes ?? NaN;
    const ms = s.memory_usage_bytes ?? NaN;
    assert.ok(Math.abs(mh - ms) <= Math.max(ms * 0.05, 512 * 1024), `memory ${mh} vs ${ms}`);
    assert.ok(Math.abs((h.cpu?.cores_used ?? NaN) - (s.cpu?.cores_used ?? NaN)) <= 0.05, 'an idle process: both near 0');
    // The same network namespace (the host's here): the same interfaces, counters apart by one interval's traffic at most.
    assert.deepEqual(h.network?.interfaces.map((i) => i.name), s.network?.interfaces.map((i) => i.name));
    assert.ok(Math.abs((h.network_rx_bytes ?? NaN) - (s.network_rx_bytes ?? NaN)) <= 1024 * 1024, `rx ${h.network_rx_bytes} vs ${s.network_rx_bytes}`);
    assert.equal(h.disk_total_bytes, s.disk_total_bytes);
    // The same collectors ran, with the same outcome.
    assert.deepEqual(Object.keys(h.agent.collectors).sort(), Object.keys(s.agent.collectors).sort());
    assert.deepEqual(Object.keys(h.unavailable).filter((k) => !k.startsWith('gpus')).sort(), Object.keys(s.unavailable).filter((k) => !k.startsWith('gpus')).sort());
  });

  it('GPUs from the process list: exclusive to the trainer, shared by both and naming the other, per-process memory, no device-wide usage on the shared one', async () => {
    const uuid0 = String(gpus['gpu.0.uuid']);
    const uuid1 = String(gpus['gpu.1.uuid']);
    const trainer = await until('GPUs on the trainer', async () => {
      const s = await sample('smhost-trainer');
      return s !== null && s.gpus.length === 2 ? s : null;
    }, 20_000);
    const t0 = trainer.gpus.find((g) => g.uuid === uuid0);
    const t1 = trainer.gpus.find((g) => g.uuid === uuid1);
    assert.deepEqual(t1?.sharing, { mode: 'exclusive', shared_with: [], other_processes: 0 });
    assert.equal(t1?.utilization_percent, 81);
    assert.deepEqual(t0?.sharing, { mode: 'shared', shared_with: ['plain-b'], other_processes: 0 });
    assert.equal(t0?.utilization_percent, null);
    assert.equal(t0?.power_watts, null);
    assert.match(trainer.unavailable[`gpus.${uuid0}.utilization_percent`] ?? '', /shared with plain-b/);
    assert.equal(t0?.memory_used_bytes, 1073741824);
    // Not in a PID namespace of its own: the host pid, said to be one.
    assert.deepEqual(t0?.processes, [{ pid: trainerPid, pid_namespace: 'host', used_memory_bytes: 1073741824 }]);
    const plain = await until('GPUs on plain-b', async () => {
      const s = await sample('plain-b');
      return s !== null && s.gpus.length === 1 ? s : null;
    });
    assert.deepEqual(plain.gpus[0]?.sharing, { mode: 'shared', shared_with: ['smhost-trainer'], other_processes: 0 });
    assert.equal(plain.gpus[0]?.memory_used_bytes, 2147483648);
  });

  it('a child made while the agent runs is published within an interval or two; one that vanishes gets its final exited sample and a short expiry', async () => {
    const late = child('late-c', { memory: 64 * MiB });
    const createdAt = Date.now();
    await late.spawnInside(IDLE);
    const s = await until('the late child', () => sample('late-c'), 10_000);
    assert.ok(Date.now() - createdAt <= 3000, `picked up after ${Date.now() - createdAt} ms (interval 1 s)`);
    assert.equal(s.memory?.limit_bytes, 64 * MiB);

    const heldBefore = readdirSync(`/proc/${host.pid}/fd`).filter((fd) => { try { return readlinkSync(`/proc/${host.pid}/fd/${fd}`).includes(`/${parent.name}/late-c`); } catch { return false; } }).length;
    assert.ok(heldBefore > 0, 'the agent keeps the cgroup files of a live container open');
    await late.remove();
    kids.splice(kids.indexOf(late), 1);
    const final = await until('its exited sample', async () => {
      const x = await sample('late-c');
      return x?.status === 'exited' ? x : null;
    }, 10_000);
    assert.equal(final.memory?.limit_bytes, 64 * MiB, 'the last values, marked exited');
    // Nothing of it is kept open: no descriptor of the agent's points into its cgroup any more.
    const fdDir = `/proc/${host.pid}/fd`;
    const open = await until('its descriptors closed', () => {
      const into = readdirSync(fdDir).map((fd) => { try { return readlinkSync(join(fdDir, fd)); } catch { return ''; } }).filter((t) => t.includes(`/${parent.name}/late-c`));
      return into.length === 0 ? into : null;
    }, 5000);
    assert.deepEqual(open, []);
    const ttl = await redis.ttl(metricsKey('late-c'));
    assert.ok(ttl > 0 && ttl <= 15, `expires in ${ttl} s like a sidecar's final sample (at most the 15 s ttl)`);
    assert.ok(host.alive, host.stderr);
  });
});
