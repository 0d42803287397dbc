import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { VERSION } from '../../shared/src/version.js';
import { REPO, fixtureEnv } from './helpers/agent-process.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from './helpers/fake-nvml.js';
import { freePort, RedisServer } from './helpers/redis-server.js';
import { until } from './helpers/until.js';

/** True when the ELF file has a program interpreter (PT_INTERP): it needs a dynamic loader from somewhere. */
function hasInterpreter(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    assert.equal(head.toString('latin1', 1, 4), 'ELF', `${file} is not an ELF file`);
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return true;
    return false;
  } finally {
    closeSync(fd);
  }
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (chroot and mount); run the tests as root as CI does`);
}

/**
 * The release built by `npm run build` (dist/system-monitor-linux-x64.tar.gz),
 * unpacked at a path of its own and run the way a container runs it: empty
 * PATH, no Node and no node_modules anywhere near it.
 */
describe('the release (dist/system-monitor-linux-x64.tar.gz)', () => {
  let dir: string;
  let bin: string;

  before(() => {
    const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}${built.stderr}`);
    dir = mkdtempSync(join(tmpdir(), 'release-'));
    const unpacked = spawnSync('tar', ['-xzf', join(REPO, 'dist/system-monitor-linux-x64.tar.gz'), '-C', dir], { encoding: 'utf8' });
    assert.equal(unpacked.status, 0, unpacked.stderr);
    bin = join(dir, 'system-monitor/system-monitor');
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function runBin(args: string[], env: Record<string, string>, exe = bin) {
    return spawnSync(exe, args, { cwd: dir, encoding: 'utf8', env: { PATH: '', ...env }, timeout: 30_000 });
  }

  /** `once` on the docker-v2 fixture with the fake NVML's two GPUs visible. */
  function onceWithTwoGpus(env: Record<string, string>, exe = bin) {
    const fake = new FakeNvmlDir(twoGpuConfig());
    try {
      return runBin(['once', '--interval', '1'], { ...fixtureEnv('docker-v2'), ...fake.env(), NVML_LIBRARY_PATH: buildFakeNvml(), ...env }, exe);
    } finally {
      fake.remove();
    }
  }

  it('is one top directory system-monitor/ whose entry and scripts need no dynamic loader, libc or shell of the image', () => {
    const list = spawnSync('tar', ['-tzf', join(REPO, 'dist/system-monitor-linux-x64.tar.gz')], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const entries = list.stdout.split('\n').filter((l) => l !== '');
    assert.deepEqual(entries.filter((e) => !e.startsWith('system-monitor/')), []);
    for (const f of ['system-monitor/system-monitor', 'system-monitor/start-with-monitor.sh', 'system-monitor/lib/ld-linux-x86-64.so.2', 'system-monitor/lib/koffi.node', 'system-monitor/libexec/system-monitor-nvml']) {
      assert.ok(entries.includes(f), `${f} in the tarball`);
    }
    // The entry is static: it runs where no ld-linux or ld-musl exists at all.
    assert.equal(hasInterpreter(bin), false, 'system-monitor/system-monitor has no PT_INTERP');
    // Every library the agent links is in lib/: ldd resolves each one there when told to look only there.
    // The same for the NVML worker, which the agent starts through that loader too.
    for (const [program, atLeast] of [['system-monitor-node', 6], ['system-monitor-nvml', 2]] as const) {
      const ldd = spawnSync(join(dir, 'system-monitor/lib/ld-linux-x86-64.so.2'), ['--library-path', join(dir, 'system-monitor/lib'), '--list', join(dir, 'system-monitor/libexec', program)], { encoding: 'utf8' });
      assert.equal(ldd.status, 0, ldd.stderr);
      const resolved = ldd.stdout.split('\n').filter((l) => l.includes('=>'));
      assert.ok(resolved.length >= atLeast, ldd.stdout);
      for (const line of resolved) assert.ok(line.includes(join(dir, 'system-monitor/lib/')), `${program}: resolved inside the release: ${line}`);
    }
  });

  it('--version prints the agent version and the LTS Node inside, with no Node on PATH', () => {
    const r = runBin(['--version'], {});
    assert.equal(r.status, 0, r.stderr);
    const buildScript = readFileSync(join(REPO, 'scripts/build.mjs'), 'utf8');
    const node = /SEA_NODE_VERSION = '([\d.]+)'/.exec(buildScript)?.[1];
    assert.equal(r.stdout.trim(), `${VERSION} (node v${node ?? '?'})`);
  });

  it("once: a full sample, with GPUs read by the release's NVML worker", () => {
    const config = twoGpuConfig();
    const fake = new FakeNvmlDir(config);
    try {
      const r = runBin(['once', '--interval', '1'], { ...fixtureEnv('docker-v2'), ...fake.env(), NVML_LIBRARY_PATH: buildFakeNvml(), CONTAINER_NAME: 'sea-once' });
      assert.equal(r.status, 0, r.stderr);
      const sample = payloadSchema.parse(JSON.parse(r.stdout));
      assert.equal(sample.container_name, 'sea-once');
      const memCurrent = Number(readFileSync(join(REPO, 'agent/test/fixtures/docker-v2/sys/fs/cgroup/memory.current'), 'utf8'));
      assert.equal(sample.memory_usage_bytes, memCurrent);
      assert.deepEqual(
        sample.gpus.map((g) => g.uuid),
        [config['gpu.0.uuid'], config['gpu.1.uuid']].map(String),
      );
      assert.equal(sample.gpus[0]?.memory_used_bytes, Number(config['gpu.0.mem_used']));
      // NVML was loaded by the release's worker program, started through the release's loader.
      const initPids = [...new Set(fake.calls().filter((c) => c.symbol === 'nvmlInit_v2').map((c) => c.pid))];
      assert.equal(initPids.length, 1);
    } finally {
      fake.remove();
    }
  });

  it('run: the NVML worker is the release\'s C program under its loader; hung in NVML it is killed and a new one started', async () => {
    const config = twoGpuConfig();
    const fake = new FakeNvmlDir(config);
    const server = new RedisServer(await freePort());
    await server.start();
    const r = new Redis({ port: server.port, host: '127.0.0.1' });
    const child = spawn(bin, [], {
      cwd: dir,
      env: { PATH: '', ...fixtureEnv('docker-v2'), ...fake.env(), NVML_LIBRARY_PATH: buildFakeNvml(), CONTAINER_NAME: 'sea-hang', INTERVAL_SECONDS: '1', GPU_DEADLINE_MS: '300', VALKEY_URL: `redis://127.0.0.1:${server.port}` },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const children = (): number[] =>
      readFileSync(`/proc/${child.pid ?? 0}/task/${child.pid ?? 0}/children`, 'utf8')
        .trim()
        .split(' ')
        .filter((x) => x !== '')
        .map(Number);
    const sample = async (): Promise<Payload | null> => {
      const raw = await r.get(metricsKey('sea-hang'));
      return raw === null ? null : payloadSchema.parse(JSON.parse(raw));
    };
    const waitFor = async (what: string, ok: (p: Payload) => boolean): Promise<Payload> => {
      for (let i = 0; i < 150; i++) {
        const p = await sample();
        if (p !== null && ok(p)) return p;
        await sleep(100);
      }
      throw new Error(`no sample where ${what}: ${JSON.stringify(await sample())}`);
    };
    try {
      await waitFor('both GPUs are ok', (p) => p.gpus.length === 2 && p.gpus.every((g) => g.health === 'ok'));
      const [first] = children();
      assert.ok(first !== undefined, 'the agent has its worker child');
      const cmdline = readFileSync(`/proc/${first}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(cmdline.slice(1, 3), ['--library-path', join(dir, 'system-monitor/lib')]);
      assert.equal(realpathSync(`/proc/${first}/exe`), realpathSync(join(dir, 'system-monitor/lib/ld-linux-x86-64.so.2')));
      assert.equal(readFileSync(`/proc/${first}/comm`, 'utf8').trim(), 'nvml-worker', 'named for ps and top');
      const maps = readFileSync(`/proc/${first}/maps`, 'utf8');
      assert.ok(maps.includes(join(dir, 'system-monitor/libexec/system-monitor-nvml')), 'the worker program is mapped');
      assert.ok(maps.includes(join(dir, 'system-monitor/lib/libc.so.6')), "the release's libc, not the machine's");
      fake.write({ ...config, 'delay_ms.nvmlDeviceGetPowerUsage': 60000 });
      const hung = await waitFor('the GPUs are unavailable', (p) => p.gpus.length === 2 && p.gpus.every((g) => g.health === 'unavailable'));
      assert.match(hung.unavailable.gpus ?? '', /NVML call timed out after 300 ms/);
      fake.write(config);
      await waitFor('the GPUs are ok again', (p) => p.gpus.length === 2 && p.gpus.every((g) => g.health === 'ok'));
      const now = children();
      assert.equal(now.length, 1, `one worker: ${now.join(' ')}`);
      assert.notEqual(now[0], first, 'a new worker');
      let gone = false;
      try {
        process.kill(first, 0);
      } catch {
        gone = true;
      }
      assert.ok(gone, 'the hung worker was killed');
    } finally {
      for (const pid of (() => {
        try {
          return children();
        } catch {
          return [];
        }
      })()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      child.kill('SIGKILL');
      r.disconnect();
      await server.stop();
      fake.remove();
    }
  });

  it('run: the agent and its NVML worker release their start-up pages after the third tick and keep publishing samples, GPUs included', async () => {
    const config = twoGpuConfig();
    const fake = new FakeNvmlDir(config);
    const server = new RedisServer(await freePort());
    await server.start();
    const r = new Redis({ port: server.port, host: '127.0.0.1' });
    const child = spawn(bin, [], {
      cwd: dir,
      env: { PATH: '', ...fixtureEnv('docker-v2'), ...fake.env(), NVML_LIBRARY_PATH: buildFakeNvml(), CONTAINER_NAME: 'sea-pages', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const rssFileKb = (pid: number): number => Number(/^RssFile:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    // The NVML worker: the agent's child process, started after the first publish.
    const workerPid = (): number => Number(readFileSync(`/proc/${child.pid ?? 0}/task/${child.pid ?? 0}/children`, 'utf8').trim().split(' ')[0] || NaN);
    try {
      let before = NaN;
      for (let i = 0; i < 100 && Number.isNaN(before); i++) {
        // Read while the first sample is out and the release (after the third) is not yet due.
        if ((await r.get(metricsKey('sea-pages'))) !== null) before = rssFileKb(child.pid ?? 0);
        else await sleep(50);
      }
      for (let i = 0; i < 100 && !out.includes('start-up pages released'); i++) await sleep(100);
      const line = out.split('\n').find((l) => l.includes('start-up pages released'));
      assert.ok(line !== undefined, `no release logged:\n${out}`);
      const logged = JSON.parse(line) as { released_kb: number; failed: number };
      assert.equal(logged.failed, 0);
      // The V8 start-up snapshot alone is ~9 MB of the binary's pages.
      assert.ok(logged.released_kb > 8192, line);
      const t0 = Date.now();
      // The worker releases after its own third collection, within a tick of the agent; allow a loaded machine 8 s.
      let after = NaN;
      let workerAfter = NaN;
      for (let i = 0; i < 32; i++) {
        await sleep(250);
        after = rssFileKb(child.pid ?? 0);
        workerAfter = rssFileKb(workerPid());
        if (i >= 8 && before - after > 8192 && before - workerAfter > 8192) break;
      }
      assert.ok(before - after > 8192, `RssFile ${before} kB before the release, ${after} kB after it`);
      // The worker is a small C program: it maps far less than the agent did before its release.
      assert.ok(before - workerAfter > 8192, `NVML worker RssFile ${workerAfter} kB, agent ${before} kB before its release`);
      const sample = payloadSchema.parse(JSON.parse((await r.get(metricsKey('sea-pages'))) ?? '{}'));
      assert.ok(Date.parse(sample.timestamp) > t0, `a sample written after the release (${sample.timestamp})`);
      assert.equal(sample.status, 'running');
      assert.deepEqual(
        sample.gpus.map((g) => g.uuid),
        [config['gpu.0.uuid'], config['gpu.1.uuid']].map(String),
      );
    } finally {
      // The worker outlives a SIGKILLed agent until it sees its stdin close, and may still write the fake's call log.
      let worker = NaN;
      try {
        worker = workerPid();
      } catch {
        // already gone
      }
      child.kill('SIGKILL');
      try {
        if (!Number.isNaN(worker)) process.kill(worker, 'SIGKILL');
      } catch {
        // exited on its own meanwhile
      }
      r.disconnect();
      await server.stop();
      fake.remove();
    }
  });

  it('run: publishes to Valkey and writes "exited" on SIGTERM', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const r = new Redis({ port: server.port, host: '127.0.0.1' });
    const child = spawn(bin, [], {
      cwd: dir,
      env: { PATH: '', ...fixtureEnv('docker-v2'), CONTAINER_NAME: 'sea-run', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` },
      stdio: 'ignore',
    });
    try {
      let raw: string | null = null;
      for (let i = 0; i < 100 && raw === null; i++) {
        raw = await r.get(metricsKey('sea-run'));
        if (raw === null) await sleep(100);
      }
      assert.ok(raw !== null, 'the binary published a sample');
      assert.equal(payloadSchema.parse(JSON.parse(raw)).status, 'running');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(payloadSchema.parse(JSON.parse((await r.get(metricsKey('sea-run'))) ?? '{}')).status, 'exited');
    } finally {
      child.kill('SIGKILL');
      r.disconnect();
      await server.stop();
    }
  });

  it('runs in a read-only root that holds nothing but the release (no libc, no shell, no /tmp), GPUs from a glibc NVML at /usr/lib', () => {
    requireRoot('the empty-root test');
    const root = mkdtempSync(join(tmpdir(), 'release-root-'));
    const config = twoGpuConfig();
    try {
      cpSync(join(dir, 'system-monitor'), join(root, 'opt/system-monitor'), { recursive: true });
      cpSync(join(REPO, 'agent/test/fixtures/docker-v2'), join(root, 'fx'), { recursive: true });
      // Where the NVIDIA Container Toolkit mounts the driver's (glibc) library in an image with no multiarch directory.
      mkdirSync(join(root, 'usr/lib'), { recursive: true });
      copyFileSync(buildFakeNvml(), join(root, 'usr/lib/libnvidia-ml.so.1'));
      writeFileSync(join(root, 'nvml.conf'), Object.entries(config).map(([k, v]) => `${k} = ${String(v)}\n`).join(''));
      mkdirSync(join(root, 'proc'));
      const sh = (cmd: string): void => {
        const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
      };
      sh(`mount --bind ${root} ${root} && mount -o remount,ro,bind ${root} && mount -t proc proc ${root}/proc`);
      try {
        assert.ok(!existsSync(join(root, 'tmp')) && !existsSync(join(root, 'bin/sh')));
        // The environment has no PATH (nothing in the root to search), so chroot(8) is named by its path.
        assert.ok(existsSync('/usr/sbin/chroot'), 'chroot(8) at /usr/sbin/chroot (Debian coreutils)');
        const r = spawnSync('/usr/sbin/chroot', [root, '/opt/system-monitor/system-monitor', 'once', '--interval', '1'], {
          encoding: 'utf8',
          timeout: 30_000,
          env: { CGROUP_ROOT: '/fx/sys/fs/cgroup', PROC_ROOT: '/fx/proc', SYS_ROOT: '/fx/sys', FAKE_NVML_CONFIG: '/nvml.conf', CONTAINER_NAME: 'bare-root', TMPDIR: '/tmp' },
        });
        assert.equal(r.status, 0, r.error?.message ?? r.stderr);
        const sample = payloadSchema.parse(JSON.parse(r.stdout));
        assert.equal(sample.container_name, 'bare-root');
        assert.equal(sample.memory_usage_bytes, Number(readFileSync(join(REPO, 'agent/test/fixtures/docker-v2/sys/fs/cgroup/memory.current'), 'utf8')));
        assert.deepEqual(
          sample.gpus.map((g) => g.uuid),
          [config['gpu.0.uuid'], config['gpu.1.uuid']].map(String),
        );
      } finally {
        sh(`umount ${root}/proc; umount ${root}`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  /**
   * `run` at a 1 s interval until the start-up page release (koffi's second
   * user, after the per-process reader loaded at start) has run, then the
   * process's mappings and its log.
   */
  async function runPastPageRelease(env: Record<string, string>, exe = bin): Promise<{ maps: string; log: string }> {
    const server = new RedisServer(await freePort());
    await server.start();
    let log = '';
    const child = spawn(exe, ['run'], {
      cwd: dir,
      env: { PATH: '', ...fixtureEnv('docker-v2'), INTERVAL_SECONDS: '1', LOG_LEVEL: 'debug', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    try {
      await until('the start-up page release', () => (/start-up pages (released|kept)/.test(log) ? true : null), 30_000);
      const pid = child.pid;
      assert.ok(pid !== undefined);
      return { maps: readFileSync(`/proc/${pid}/maps`, 'utf8'), log };
    } finally {
      child.kill('SIGKILL');
      await server.stop();
    }
  }

  it('never loads a koffi module planted in the temporary directory (where an older build wrote its copy)', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'planted-'));
    try {
      const native = readFileSync(join(dir, 'system-monitor/lib/koffi.node'));
      const digest = createHash('sha256').update(native).digest('hex').slice(0, 16);
      const marker = join(tmp, 'planted-code-ran');
      const src = join(tmp, 'planted.c');
      writeFileSync(src, `#include <stdio.h>\n__attribute__((constructor)) static void ran(void) { FILE *f = fopen("${marker}", "w"); if (f) fclose(f); }\n`);
      const uid = process.getuid?.() ?? 0;
      mkdirSync(join(tmp, `system-monitor-${uid}`));
      const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', join(tmp, `system-monitor-${uid}`, `koffi-${digest}.node`), src], { encoding: 'utf8' });
      assert.equal(cc.status, 0, `cc (gcc, libc6-dev): ${cc.stderr}`);
      const { maps, log } = await runPastPageRelease({ TMPDIR: tmp, CONTAINER_NAME: 'planted' });
      assert.match(log, /start-up pages released/, 'koffi was loaded and used');
      assert.ok(maps.includes(join(realpathSync(dir), 'system-monitor/lib/koffi.node')), "koffi mapped from the release's lib/");
      assert.ok(maps.includes(join(realpathSync(dir), 'system-monitor/lib/system-monitor-pid-stats.so')), "the per-process reader mapped from the release's lib/");
      assert.match(log, /"process_reader":"[^"]*system-monitor\/lib\/system-monitor-pid-stats\.so"/);
      assert.ok(!maps.includes(tmp), 'nothing mapped from the temporary directory');
      assert.equal(existsSync(marker), false, 'the planted library was loaded');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a koffi module others could have replaced, says why, and goes on publishing', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'release-gw-'));
    try {
      cpSync(join(dir, 'system-monitor'), join(copy, 'system-monitor'), { recursive: true });
      chmodSync(join(copy, 'system-monitor/lib/koffi.node'), 0o664);
      const { maps, log } = await runPastPageRelease({ CONTAINER_NAME: 'gw' }, join(copy, 'system-monitor/system-monitor'));
      assert.match(log, /start-up pages kept/);
      assert.match(log, /writable by its group \(mode 664\)/, 'the reason names the mode');
      assert.ok(!maps.includes('koffi.node'), 'koffi not mapped');
      // Nor the per-process reader, which koffi loads: the processes are read in JavaScript instead.
      assert.ok(!maps.includes('system-monitor-pid-stats.so'), 'the per-process reader not mapped');
      assert.match(log, /per-process files are read in JavaScript/);
      // The samples go on: GPUs never needed koffi (the NVML worker is a C program).
      const r = onceWithTwoGpus({ CONTAINER_NAME: 'gw' }, join(copy, 'system-monitor/system-monitor'));
      assert.equal(r.status, 0, r.stderr);
      assert.equal(payloadSchema.parse(JSON.parse(r.stdout)).gpus.length, 2);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('install copies the release into another directory, where it runs', () => {
    const target = mkdtempSync(join(tmpdir(), 'release-install-'));
    try {
      const r = runBin(['install', join(target, 'sm')], {});
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^installed \d+ files/);
      const v = runBin(['--version'], {}, join(target, 'sm/system-monitor'));
      assert.equal(v.status, 0, v.stderr);
      assert.equal(readFileSync(join(target, 'sm/lib/koffi.node')).equals(readFileSync(join(dir, 'system-monitor/lib/koffi.node'))), true);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  describe('wrap: the main command beside the agent, with no shell in the image', () => {
    let server: RedisServer;
    let redis: Redis;
    before(async () => {
      server = new RedisServer(await freePort());
      await server.start();
      redis = new Redis({ port: server.port, host: '127.0.0.1' });
    });
    after(async () => {
      redis.disconnect();
      await server.stop();
    });

    const env = (name: string): Record<string, string> => ({
      PATH: process.env.PATH ?? '',
      ...fixtureEnv('docker-v2'),
      CONTAINER_NAME: name,
      INTERVAL_SECONDS: '1',
      VALKEY_URL: `redis://127.0.0.1:${server.port}`,
    });
    const children = (pid: number): number[] =>
      readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
        .trim()
        .split(' ')
        .filter((p) => p !== '')
        .map(Number);
    const status = async (name: string): Promise<string | null> => {
      const raw = await redis.get(metricsKey(name));
      return raw === null ? null : payloadSchema.parse(JSON.parse(raw)).status;
    };

    it("gives the main command the wrapper's stdin, exits with its status, and the agent writes its final sample after it", async () => {
      const go = join(dir, 'wrap-go');
      const child = spawn(bin, ['wrap', '--', 'sh', '-c', `read line; echo "main got $line"; while [ ! -e ${go} ]; do sleep 0.05; done; exit 7`], { env: env('wrap-a'), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        child.stdin.end('hello\n');
        assert.equal(await until('the agent\'s first sample', () => status('wrap-a')), 'running');
        writeFileSync(go, '');
        assert.equal(await exited, 7, err);
        assert.match(out, /^main got hello$/m);
        assert.equal(await status('wrap-a'), 'exited');
      } finally {
        child.kill('SIGKILL');
        rmSync(go, { force: true });
      }
    });

    it('forwards HUP, INT, QUIT, USR1, USR2 and WINCH to the main command, dies of none, keeps the agent, and TERM ends the main command', async () => {
      const got = join(dir, 'wrap-signals');
      const traps = ['HUP', 'INT', 'QUIT', 'USR1', 'USR2', 'WINCH'].map((s) => `trap 'echo ${s} >>${got}' ${s};`).join(' ');
      const child = spawn(bin, ['wrap', 'sh', '-c', `${traps} trap 'exit 42' TERM; echo ready >${got}; while :; do sleep 0.05; done`], { env: env('wrap-b'), stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const pid = child.pid ?? 0;
      try {
        await until('the main command', () => (existsSync(got) ? true : null));
        await until('the agent\'s first sample', () => status('wrap-b'));
        const before = children(pid);
        assert.equal(before.length, 2, 'the main command and the agent');
        for (const sig of ['HUP', 'INT', 'QUIT', 'USR1', 'USR2', 'WINCH'] as const) {
          process.kill(pid, `SIG${sig}`);
          await until(`${sig} at the main command`, () => (readFileSync(got, 'utf8').includes(sig) ? true : null), 5000, 50);
        }
        assert.deepEqual(children(pid), before, 'neither the main command nor the agent was stopped or restarted');
        process.kill(pid, 'SIGTERM');
        assert.equal(await exited, 42);
      } finally {
        child.kill('SIGKILL');
        rmSync(got, { force: true });
      }
    });

    it('restarts an agent that dies, and exits 128+N when the main command dies of signal N', async () => {
      const go = join(dir, 'wrap-die');
      const child = spawn(bin, ['wrap', 'sh', '-c', `while [ ! -e ${go} ]; do sleep 0.05; done; kill -KILL $$`], { env: env('wrap-c'), stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const pid = child.pid ?? 0;
      try {
        await until('the agent\'s first sample', () => status('wrap-c'));
        const [main, agent] = await until('two children', () => {
          const c = children(pid);
          return c.length === 2 ? c : null;
        });
        const agentPid = readFileSync(`/proc/${main ?? 0}/comm`, 'utf8').trim() === 'sh' ? agent : main;
        process.kill(agentPid ?? 0, 'SIGKILL');
        await until('a new agent', () => {
          const c = children(pid);
          return c.length === 2 && !c.includes(agentPid ?? 0) ? c : null;
        });
        assert.match(err, /agent exited with signal 9; restarting in 1 s/);
        await redis.del(metricsKey('wrap-c'));
        assert.equal(await until('a sample from the new agent', () => status('wrap-c')), 'running');
        writeFileSync(go, '');
        assert.equal(await exited, 137);
      } finally {
        child.kill('SIGKILL');
        rmSync(go, { force: true });
      }
    });

    it('a main command that cannot be run: 127 and its name', () => {
      const r = spawnSync(bin, ['wrap', 'no-such-command-here'], { env: { ...env('wrap-d'), SYSTEM_MONITOR_DISABLE: '1' }, encoding: 'utf8' });
      assert.equal(r.status, 127);
      assert.match(r.stderr, /cannot run no-such-command-here: No such file or directory/);
    });
  });
});
