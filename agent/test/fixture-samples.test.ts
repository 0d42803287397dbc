import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { payloadSchema, siriusFieldNames, siriusIntegerFields, type Payload } from '../../shared/src/payload.js';
import { locateCgroup } from '../src/cgroup/locate.js';
import { createCollectors } from '../src/collectors/index.js';
import type { AgentEnv } from '../src/collectors/types.js';
import { Sampler } from '../src/sampler.js';

/**
 * Whole samples on fixture trees: the real locator, every collector and the
 * sampler, with a fake monotonic clock so rates are exact. Expected values are
 * computed here from the numbers written in the fixture files.
 */

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const INTERVAL_S = 5;
const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

interface Run {
  root: string;
  first: Payload;
  second: Payload;
}

/** Copies a fixture, samples, applies `change` to the files, advances the clock 5 s, samples again. */
async function run(name: string, change: (root: string) => void = () => undefined, cgroupPath?: string): Promise<Run> {
  const root = mkdtempSync(join(tmpdir(), `sm-fx-${name}-`));
  temps.push(root);
  cpSync(join(FIXTURES, name), root, { recursive: true });
  let now = 1_000_000_000_000n;
  const env: AgentEnv = {
    procRoot: join(root, 'proc'),
    sysRoot: join(root, 'sys'),
    cgroup: locateCgroup({ procRoot: join(root, 'proc'), cgroupRoot: join(root, 'sys/fs/cgroup'), cgroupPath }),
    intervalMs: INTERVAL_S * 1000,
    minRateDeltaNs: BigInt(INTERVAL_S * 1e9 * 0.5),
    diskPaths: ['/'],
    clock: () => now,
  };
  const sampler = new Sampler(env, createCollectors(env), { containerName: name, version: 'test', log: pino({ level: 'silent' }) });
  const first = payloadSchema.parse(await sampler.sample());
  change(root);
  now += BigInt(INTERVAL_S * 1e9);
  const second = payloadSchema.parse(await sampler.sample());
  return { root, first, second };
}

/** Rewrites `key value` lines of a keyed file by adding deltas. */
function bump(path: string, deltas: Record<string, number>): void {
  const text = readFileSync(path, 'utf8');
  const out = text
    .split('\n')
    .map((line) => {
      const [k, v] = line.split(' ');
      if (k !== undefined && v !== undefined && k in deltas) return `${k} ${BigInt(v) + BigInt(deltas[k] ?? 0)}`;
      return line;
    })
    .join('\n');
  writeFileSync(path, out);
}

function assertSiriusShape(p: Payload): void {
  const json: unknown = JSON.parse(JSON.stringify(p));
  assert.ok(typeof json === 'object' && json !== null);
  const keys = Object.keys(json);
  assert.deepEqual(keys.slice(0, siriusFieldNames.length), [...siriusFieldNames], 'the 19 Sirius fields come first, in order');
  for (const f of siriusIntegerFields) {
    const v = p[f];
    assert.ok(v === null || Number.isSafeInteger(v), `${f} must be an integer, got ${v}`);
  }
  assert.equal(typeof p.timestamp, 'string');
  assert.equal(p.status, 'running');
}

describe('fixture: Docker on cgroup v2, private namespace', async () => {
  const cg = 'sys/fs/cgroup';
  const r = await run('docker-v2', (root) => {
    bump(join(root, cg, 'cpu.stat'), { usage_usec: 7_500_000, user_usec: 6_000_000, system_usec: 1_500_000, nr_periods: 50, nr_throttled: 5 });
    bump(join(root, cg, 'memory.stat'), { pgmajfault: 10 });
    bump(join(root, cg, 'cpu.pressure'), {});
    writeFileSync(
      join(root, cg, 'cpu.pressure'),
      'some avg10=1.50 avg60=0.80 avg300=0.20 total=623456\nfull avg10=0.50 avg60=0.10 avg300=0.00 total=23456\n',
    );
    writeFileSync(
      join(root, cg, 'io.stat'),
      '8:0 rbytes=6291456 wbytes=2097152 rios=74 wios=128 dbytes=0 dios=0\n253:0 rbytes=6291456 wbytes=2097152 rios=74 wios=128 dbytes=0 dios=0\n',
    );
    const dev = readFileSync(join(root, 'proc/net/dev'), 'utf8').replace('eth0: 5000000', 'eth0: 5500000');
    writeFileSync(join(root, 'proc/net/dev'), dev);
  });
  const { first, second } = r;

  it('locates the namespace root and labels the sample', () => {
    assert.equal(second.cgroup.mode, 'v2');
    assert.equal(second.cgroup.scope, 'container');
    assert.equal(second.cgroup.source, 'private-namespace');
    assert.equal(second.container_name, 'docker-v2');
    assertSiriusShape(first);
    assertSiriusShape(second);
  });

  it('first sample has gauges but no rates', () => {
    assert.equal(first.cpu?.cores_used, null);
    assert.equal(first.cpu_percent, null);
    assert.equal(first.memory_usage_bytes, 268435456);
    assert.equal(first.network?.rx_bytes_per_sec, null);
  });

  it('CPU: 7.5 s of CPU in 5 s = 1.5 cores = 100 % of a 1.5-core cpu.max', () => {
    const c = second.cpu;
    assert.equal(c?.limit_cores, 150000 / 100000);
    assert.equal(c?.limit_source, 'cpu.max');
    assert.equal(c?.cores_used, 7.5 / 5);
    assert.equal(c?.user_cores, 6 / 5);
    assert.equal(c?.system_cores, 1.5 / 5);
    assert.equal(c?.docker_percent, 150);
    assert.equal(second.cpu_percent, 100);
    assert.equal(c?.throttled_percent, (100 * 5) / 50);
    assert.equal(c?.usage_seconds_total, (123456789 + 7_500_000) / 1e6);
  });

  it('memory: usage, working set, limit and breakdown from the files', () => {
    const m = second.memory;
    const limit = 1073741824;
    assert.equal(m?.usage_bytes, 268435456);
    assert.equal(m?.limit_bytes, limit);
    assert.equal(m?.limit_source, 'memory.max');
    assert.equal(second.memory_percent, (100 * 268435456) / limit);
    assert.equal(m?.working_set_bytes, 268435456 - 60000000);
    assert.equal(m?.anon_bytes, 150000000);
    assert.equal(m?.file_bytes, 100000000);
    assert.equal(m?.shmem_bytes, 4096);
    assert.equal(m?.kernel_bytes, 10000000);
    assert.equal(m?.peak_bytes, 300000000);
    assert.equal(m?.peak_source, 'kernel');
    assert.equal(m?.oom_events_total, 1);
    assert.equal(m?.oom_kills_total, 1);
    assert.equal(m?.major_faults_total, 52);
    assert.equal(m?.major_faults_per_sec, 10 / 5);
  });

  it('block I/O: the dm device stacked on sda is not counted twice', () => {
    assert.equal(second.disk_read_bytes, 6291456);
    assert.equal(second.disk_write_bytes, 2097152);
    assert.equal(second.io?.read_bytes_per_sec, (6291456 - 1048576) / 5);
    assert.equal(second.io?.read_ops_per_sec, 10 / 5);
    assert.deepEqual(second.io?.skipped_stacked, ['253:0']);
  });

  it('network: every interface but lo, with rates', () => {
    assert.equal(second.network_rx_bytes, 5500000 + 250000);
    assert.equal(second.network_tx_bytes, 3000000 + 125000);
    assert.equal(second.network?.rx_bytes_per_sec, 500000 / 5);
    assert.equal(second.network?.tx_bytes_per_sec, 0);
    assert.deepEqual(second.network?.interfaces.map((i) => i.name), ['eth0', 'eth1']);
    assert.equal(second.network?.scope, 'container');
  });

  it('pids, pressure, processes, fds, uptime, host load', () => {
    assert.deepEqual(second.pids, { current: 9, max: 512 });
    assert.equal(second.pressure?.cpu?.some?.avg10, 1.5);
    assert.equal(second.pressure?.cpu?.some?.interval_percent, (100 * 500000) / 5e6);
    assert.equal(second.pressure?.io?.full?.avg10, 1);
    assert.equal(second.process_count, 3);
    assert.equal(second.file_descriptors, 4 + 3 + 2);
    assert.equal(second.uptime_seconds, Math.floor(12345.67 - 1000000 / 100));
    assert.equal(second.system?.uptime_source, 'pid1');
    assert.deepEqual([second.load_average_1m, second.load_average_5m, second.load_average_15m], [0.52, 0.58, 0.59]);
    assert.ok(second.processes?.top.some((p) => p.name === 'my (weird) worker'));
  });

  it('disk: statfs of / (the real root filesystem here)', () => {
    const s = statfsSync('/');
    assert.equal(second.disk_total_bytes, s.blocks * s.bsize);
    assert.ok(second.disk_percent !== null && second.disk_percent > 0 && second.disk_percent < 100);
  });

  it('every collector ran without error', () => {
    for (const [name, st] of Object.entries(second.agent.collectors)) assert.equal(st.ok, true, `${name}: ${st.error}`);
  });
});

describe('fixture: Docker on cgroup v1', async () => {
  const cc = 'sys/fs/cgroup/cpu,cpuacct';
  const { second } = await run('docker-v1', (root) => {
    writeFileSync(join(root, cc, 'cpuacct.usage'), `${98765432100 + 2_500_000_000}\n`);
    bump(join(root, cc, 'cpu.stat'), { nr_periods: 50, nr_throttled: 25 });
  });

  it('quota 0.5 of a 2-CPU cpuset: 0.5 cores used is 100 %', () => {
    assert.equal(second.cgroup.mode, 'v1');
    assert.equal(second.cpu?.limit_cores, 50000 / 100000);
    assert.equal(second.cpu?.cores_used, 2.5 / 5);
    assert.equal(second.cpu_percent, 100);
    assert.equal(second.cpu?.throttled_percent, 50);
  });

  it('memory from usage_in_bytes and hierarchical_memory_limit; no v1 OOM event counter', () => {
    const limit = 536870912;
    assert.equal(second.memory_usage_bytes, 209715200);
    assert.equal(second.memory?.limit_bytes, limit);
    assert.equal(second.memory?.limit_source, 'hierarchical_memory_limit');
    assert.equal(second.memory_percent, (100 * 209715200) / limit);
    assert.equal(second.memory?.working_set_bytes, 209715200 - 50000000);
    assert.equal(second.memory?.oom_kills_total, 2);
    assert.equal(second.memory?.oom_events_total, null);
    assert.ok('memory.oom_events_total' in second.unavailable);
    assert.equal(second.memory?.peak_bytes, 250000000);
  });

  it('block I/O from the recursive throttle files', () => {
    assert.equal(second.disk_read_bytes, 4096000);
    assert.equal(second.disk_write_bytes, 8192000);
    assert.equal(second.io?.read_ops_total, 1000);
    assert.equal(second.io?.write_ops_total, 2000);
  });

  it('pids max "max" is null (unlimited); v1 has no PSI', () => {
    assert.deepEqual(second.pids, { current: 6, max: null });
    assert.equal(second.pressure?.cpu ?? null, null);
    assert.ok(Object.keys(second.unavailable).some((k) => k.startsWith('pressure.')));
  });
});

describe('fixture: hybrid host (v1 controllers, controller-less cgroup2)', async () => {
  const { second } = await run('hybrid');

  it('quota only on the parent slice: 0.25 CPU, source ancestor', () => {
    assert.equal(second.cgroup.mode, 'hybrid');
    assert.equal(second.cpu?.limit_cores, 25000 / 100000);
    assert.equal(second.cpu?.limit_source, 'ancestor');
  });

  it('unlimited memory falls back to host MemTotal, labelled host', () => {
    assert.equal(second.memory?.limit_bytes, 16384000 * 1024);
    assert.equal(second.memory?.limit_source, 'host');
  });

  it('PSI comes from the cgroup2 tree', () => {
    assert.equal(second.pressure?.cpu?.some?.avg10, 3);
  });

  it('PID 1 is outside the container: uptime from the oldest container process', () => {
    assert.equal(second.process_count, 2);
    assert.equal(second.system?.uptime_source, 'oldest-pid');
    assert.equal(second.uptime_seconds, Math.floor(12345.67 - 1000500 / 100));
  });
});

describe('fixture: host cgroup namespace leaf and limits on parents', async () => {
  const leaf = await run('host-leaf');
  const parent = await run('parent-limit');

  it('host-namespace leaf: own limits', () => {
    assert.equal(leaf.second.cgroup.source, 'host-namespace');
    assert.equal(leaf.second.cpu?.limit_cores, 0.5);
    assert.equal(leaf.second.cpu?.limit_source, 'cpu.max');
    assert.equal(leaf.second.memory?.limit_bytes, 536870912);
    assert.equal(leaf.second.memory?.limit_source, 'memory.max');
  });

  it('limit set only on a parent: the smallest ancestor limit applies', () => {
    assert.equal(parent.second.cpu?.limit_cores, 25000 / 100000);
    assert.equal(parent.second.cpu?.limit_source, 'ancestor');
    assert.equal(parent.second.memory?.limit_bytes, 805306368);
    assert.equal(parent.second.memory?.limit_source, 'ancestor');
    assert.equal(parent.second.memory_percent, (100 * 268435456) / 805306368);
  });
});

describe('fixture: rootless (no controllers delegated)', async () => {
  const { second } = await run('rootless');

  it('still produces a sample; missing controllers are null with reasons, not errors', () => {
    assert.equal(second.memory_usage_bytes, null);
    assert.equal(second.memory_percent, null);
    assert.equal(second.disk_read_bytes, null);
    assert.equal(second.pids?.current ?? null, null);
    assert.equal(second.cpu?.limit_source, 'host');
    assert.ok(Object.keys(second.unavailable).some((k) => k.startsWith('memory.')));
    for (const name of ['memory', 'io', 'pids']) {
      assert.equal(second.agent.collectors[name]?.ok, true, `${name} is unsupported, not failing`);
    }
    assert.equal(second.pressure?.io, null);
    assert.equal(second.process_count, 3);
  });
});

describe('bad input loses only its own field', async () => {
  const { second } = await run('docker-v2', (root) => {
    writeFileSync(join(root, 'sys/fs/cgroup/memory.max'), 'garbage\n');
    rmSync(join(root, 'proc/net/dev'));
  });

  it('a malformed memory.max nulls the limit and percent and marks the collector', () => {
    assert.equal(second.memory?.limit_bytes, null);
    assert.equal(second.memory_percent, null);
    assert.equal(second.memory_usage_bytes, 268435456, 'usage still reported');
    assert.equal(second.agent.collectors.memory?.ok, false);
    assert.match(second.agent.collectors.memory?.error ?? '', /memory\.max/);
  });

  it('a missing /proc/net/dev nulls network only', () => {
    assert.equal(second.network_rx_bytes, null);
    assert.equal(second.cpu?.limit_cores, 1.5);
    assert.equal(second.process_count, 3);
  });
});
