import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import { CgroupOutsideError, locateCgroup } from '../cgroup/locate.js';
import { createCollectors } from '../collectors/index.js';
import { Sampler } from '../sampler.js';
import { dockerCgroupPath } from './cgroup-paths.js';
import { cgroupPathsOf } from './gpu-owners.js';

const ID = 'c0ffee'.repeat(10) + 'c0ff';
const PID = 4242;

/** The host as the host agent sees it: its own mounts, a container's /proc/<pid>/cgroup, and the cgroup files. */
const V1_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
];
const UNIFIED_MOUNT = '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw';
const V2_MOUNT = '30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw';

function v1Cgroup(path: string, withUnified: boolean): string {
  return [
    `12:pids:${path}`,
    `8:blkio:${path}`,
    `6:memory:${path}`,
    `4:cpuset:${path}`,
    `3:cpu,cpuacct:${path}`,
    `1:name=systemd:${path}`,
    ...(withUnified ? [`0::${path}`] : []),
  ].join('\n');
}

function v1Files(path: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const h of ['cpu,cpuacct', 'cpuset', 'memory', 'blkio', 'pids']) {
    files[`sys/fs/cgroup/${h}/cgroup.sane_behavior`] = '0\n';
    files[`sys/fs/cgroup/${h}${path}/cgroup.procs`] = `${PID}\n`;
  }
  files[`sys/fs/cgroup/cpu,cpuacct${path}/cpu.cfs_quota_us`] = '50000\n';
  files[`sys/fs/cgroup/cpu,cpuacct${path}/cpu.cfs_period_us`] = '100000\n';
  files[`sys/fs/cgroup/memory${path}/memory.limit_in_bytes`] = '134217728\n';
  files[`sys/fs/cgroup/memory${path}/memory.usage_in_bytes`] = '1048576\n';
  // v1 gives the effective limit (the lowest on the path up) in memory.stat.
  files[`sys/fs/cgroup/memory${path}/memory.stat`] = 'cache 0\nrss 1048576\nmapped_file 0\ninactive_file 0\nactive_file 0\nhierarchical_memory_limit 134217728\ntotal_cache 0\ntotal_rss 1048576\ntotal_inactive_file 0\ntotal_active_file 0\n';
  return files;
}

const trees: TempTree[] = [];
after(() => {
  for (const t of trees) t.remove();
});

function host(files: Record<string, string>, mounts: string[], procCgroup: string): TempTree {
  const t = makeTree({ ...files, 'proc/self/mountinfo': `${mounts.join('\n')}\n`, [`proc/${PID}/cgroup`]: `${procCgroup}\n`, 'proc/meminfo': 'MemTotal:       16384000 kB\n' });
  trees.push(t);
  return t;
}

function locate(t: TempTree, override?: string) {
  const cg = t.path('sys/fs/cgroup');
  return { cg, loc: locateCgroup({ procRoot: t.path('proc'), cgroupRoot: cg, ...(override === undefined ? { pid: PID } : { cgroupPath: override }) }) };
}

/** Limits through the sidecar's own collectors, for the located cgroup. */
async function limits(t: TempTree, loc: ReturnType<typeof locateCgroup>): Promise<{ cores: number | null | undefined; bytes: number | null | undefined }> {
  const env = { procRoot: t.path('proc'), sysRoot: t.path('sys'), cgroup: loc, intervalMs: 1000, minRateDeltaNs: 1n, diskPaths: [], clock: () => process.hrtime.bigint(), container: { initPid: () => null } };
  const s = await new Sampler(env, createCollectors(env, { processes: { pageSize: 4096 } }), { containerName: 'x', version: 't', log: pino({ level: 'silent' }), hostname: 'x' }).sample();
  return { cores: s.cpu?.limit_cores, bytes: s.memory?.limit_bytes };
}

describe("a container's cgroup found from the host, through its first process", () => {
  it('v1, cgroupfs driver: /docker/<id> in every hierarchy, co-mounted cpu,cpuacct', async () => {
    const path = dockerCgroupPath(ID, 'cgroupfs', '');
    const t = host(v1Files(path), V1_MOUNTS, v1Cgroup(path, false));
    const { cg, loc } = locate(t);
    assert.equal(loc.mode, 'v1');
    assert.equal(loc.scope, 'container');
    assert.equal(loc.source, 'host-namespace');
    assert.equal(loc.controllers.memory?.dir, join(cg, 'memory/docker', ID));
    assert.equal(loc.controllers.cpu?.dir, join(cg, 'cpu,cpuacct/docker', ID));
    assert.deepEqual(cgroupPathsOf(loc), [`/docker/${ID}`]);
    assert.deepEqual(await limits(t, loc), { cores: 0.5, bytes: 134217728 });
    // The driver's computed path names the same directories.
    assert.deepEqual(locate(t, path).loc.controllers, loc.controllers);
  });

  it('hybrid, systemd driver: docker-<id>.scope under system.slice in v1 and in the cgroup2 tree (PSI)', async () => {
    const path = dockerCgroupPath(ID, 'systemd', '');
    const files = { ...v1Files(path), [`sys/fs/cgroup/unified${path}/cgroup.procs`]: `${PID}\n`, [`sys/fs/cgroup/unified${path}/cgroup.type`]: 'domain\n', 'sys/fs/cgroup/unified/cgroup.controllers': '' };
    const t = host(files, [...V1_MOUNTS, UNIFIED_MOUNT], v1Cgroup(path, true));
    const { cg, loc } = locate(t);
    assert.equal(loc.mode, 'hybrid');
    assert.equal(loc.controllers.memory?.dir, join(cg, 'memory/system.slice', `docker-${ID}.scope`));
    assert.equal(loc.unified?.dir, join(cg, 'unified/system.slice', `docker-${ID}.scope`));
    assert.deepEqual(await limits(t, loc), { cores: 0.5, bytes: 134217728 });
  });

  it('v2, systemd driver with a --cgroup-parent slice', async () => {
    const path = dockerCgroupPath(ID, 'systemd', 'batch-gpu.slice');
    assert.equal(path, `/batch.slice/batch-gpu.slice/docker-${ID}.scope`);
    const dir = `sys/fs/cgroup${path}`;
    const t = host(
      {
        'sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n',
        [`${dir}/cgroup.controllers`]: 'cpuset cpu io memory pids\n',
        [`${dir}/cgroup.type`]: 'domain\n',
        [`${dir}/cgroup.procs`]: `${PID}\n`,
        [`${dir}/cpu.max`]: '150000 100000\n',
        [`${dir}/memory.max`]: '268435456\n',
      },
      [V2_MOUNT],
      `0::${path}`,
    );
    const { cg, loc } = locate(t);
    assert.equal(loc.mode, 'v2');
    assert.equal(loc.unified?.dir, join(cg, path));
    assert.equal(loc.controllers.memory, loc.unified);
    assert.deepEqual(await limits(t, loc), { cores: 1.5, bytes: 268435456 });
  });

  it('v2, cgroupfs driver', () => {
    const path = dockerCgroupPath(ID, 'cgroupfs', '');
    const t = host({ 'sys/fs/cgroup/cgroup.controllers': 'cpu memory\n', [`sys/fs/cgroup${path}/cgroup.procs`]: `${PID}\n`, [`sys/fs/cgroup${path}/cgroup.type`]: 'domain\n' }, [V2_MOUNT], `0::${path}`);
    assert.equal(locate(t).loc.unified?.dir, t.path(`sys/fs/cgroup/docker/${ID}`));
  });

  it("an agent in a container, with its own subtree's mounts listed before the host's full tree: the full tree is used", () => {
    const path = dockerCgroupPath(ID, 'cgroupfs', '');
    const own = V1_MOUNTS.map((l) => l.replace(' / /sys/fs/cgroup/', ` /docker/${'9'.repeat(64)} /sys/fs/cgroup/`)).filter((l) => !l.includes('tmpfs'));
    const t = host(v1Files(path), [...own, ...V1_MOUNTS], v1Cgroup(path, false));
    const { cg, loc } = locate(t);
    assert.equal(loc.controllers.memory?.dir, join(cg, 'memory/docker', ID));
  });

  it('refuses a cgroup outside what the agent sees (the agent in a private cgroup namespace), with the fix', () => {
    const t = host({ 'sys/fs/cgroup/cgroup.controllers': 'cpu memory\n' }, [V2_MOUNT], `0::/../docker/${ID}`);
    assert.throws(() => locate(t), (err: unknown) => err instanceof CgroupOutsideError && /--cgroupns host/.test(err.message));
  });

  it('a process that is gone, or a cgroup file that is not one, is an error', () => {
    const gone = host({ 'sys/fs/cgroup/cgroup.controllers': '' }, [V2_MOUNT], '0::/x');
    assert.throws(() => locateCgroup({ procRoot: gone.path('proc'), cgroupRoot: gone.path('sys/fs/cgroup'), pid: PID + 1 }), /process 4243 is gone/);
    const bad = host({ 'sys/fs/cgroup/cgroup.controllers': '' }, [V2_MOUNT], 'garbage');
    assert.throws(() => locate(bad), /expected "id:controllers:path"/);
  });
});
