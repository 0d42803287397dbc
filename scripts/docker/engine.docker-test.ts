/**
 * `npm run test:docker`: the release, the images and the compose setup on a
 * real Docker engine (started here when none runs). Base images come from
 * scripts/docker/stand-ins.ts (made locally; no registry is reachable), so the
 * project's Dockerfiles and compose file are used exactly as committed.
 *
 * Containers talk only to each other and to loopback; image builds use
 * `--network host` to reach the package registries, as the README says.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { VERSION } from '../../shared/src/version.js';
import { buildFakeNvml, twoGpuConfig } from '../../agent/test/helpers/fake-nvml.js';
import { until } from '../../agent/test/helpers/until.js';
import { readmeBlocks, readmeLine } from './readme-blocks.js';
import { burnerBinary, ensureDockerd, ensureStandIns } from './stand-ins.js';
import { startTestValkey } from './test-valkey.js';

const REPO = join(import.meta.dirname, '../..');

/** The Valkey user and password a compose service logs in with (the compose Valkey runs with an ACL file). */
function composeValkeyUser(service: string): { username: string; password: string } {
  const doc = z
    .object({ services: z.record(z.string(), z.object({ environment: z.record(z.string(), z.unknown()).optional() })) })
    .parse(parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }));
  const env = doc.services[service]?.environment ?? {};
  const username = env.VALKEY_USERNAME;
  const password = env.VALKEY_PASSWORD;
  if (typeof username !== 'string' || typeof password !== 'string') throw new Error(`docker-compose.yml: service ${service} has no VALKEY_USERNAME/VALKEY_PASSWORD`);
  return { username, password };
}
const AGENT_IMAGE = `system-monitor-agent:${VERSION}`;
const AGGREGATOR_IMAGE = `system-monitor-aggregator:${VERSION}`;
/** Every name this file gives a container, network or image starts with this, so cleaning up touches nothing else. */
const PREFIX = 'smtest';

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${String(r.status)}`}):\n${String(r.stdout).slice(-4000)}${String(r.stderr).slice(-4000)}`);
  }
  return String(r.stdout);
}
const docker = (...args: string[]): string => run('docker', args).trim();
/** The legacy builder (the engine here has no BuildKit plugin), with the host's network for apt and npm. */
const build = (...args: string[]): string => run('docker', ['build', '--network', 'host', ...args], { cwd: REPO, env: { ...process.env, DOCKER_BUILDKIT: '0' }, timeout: 900_000 });

/** "Add the agent to an existing image": the README's build command and its two Dockerfile blocks (with a shell, without). */
const ADD_SECTION = 'Add the agent to an existing image';
const readmeAgentBuild = readmeLine(ADD_SECTION, 'docker build -f Dockerfile.agent');
const [readmeWithShell, readmeWithoutShell] = readmeBlocks(ADD_SECTION).filter((b) => b.lang === 'dockerfile').map((b) => b.lines.filter((l) => l.trim() !== ''));
/** The first element of a Dockerfile block's exec-form ENTRYPOINT. */
function entrypointOf(block: string[] | undefined): string[] {
  const line = block?.find((l) => l.startsWith('ENTRYPOINT '));
  if (line === undefined) throw new Error(`README.md, "${ADD_SECTION}": a Dockerfile block without an ENTRYPOINT line: ${JSON.stringify(block)}`);
  return z.array(z.string()).parse(JSON.parse(line.slice('ENTRYPOINT '.length)));
}

function removeOurs(): void {
  const ids = docker('ps', '-aq', '--filter', `name=^${PREFIX}`).split('\n').filter((l) => l !== '');
  if (ids.length > 0) spawnSync('docker', ['rm', '-f', '-v', ...ids]);
  spawnSync('docker', ['network', 'rm', `${PREFIX}-net`]);
}

async function sampleOf(r: Redis, name: string): Promise<Payload | null> {
  const raw = await r.get(metricsKey(name));
  return raw === null ? null : payloadSchema.parse(JSON.parse(raw));
}

/** The container's memory cgroup on this host (cgroupfs driver, cgroup v1). */
function memoryCgroup(id: string): string {
  return `/sys/fs/cgroup/memory/docker/${id}`;
}

describe('on a Docker engine', () => {
  before(async () => {
    await ensureDockerd();
    await ensureStandIns((line: string) => process.stdout.write(`# ${line}\n`));
    removeOurs();
    // The README's build command as written, plus --network host for the registries (as the README says).
    const words = readmeAgentBuild.split(/\s+/);
    assert.deepEqual(words.slice(0, 2), ['docker', 'build']);
    assert.equal(words[words.indexOf('-t') + 1], AGENT_IMAGE, "the README's tag is this version's");
    build(...words.slice(2));
    build('-f', 'Dockerfile.aggregator', '-t', AGGREGATOR_IMAGE, '.');
  });

  after(() => {
    removeOurs();
  });

  it(`${AGENT_IMAGE} holds exactly /opt/system-monitor, whose agent runs with nothing else in the image`, () => {
    const id = docker('create', AGENT_IMAGE);
    try {
      const files = run('sh', ['-c', `docker export ${id} | tar -t`]).split('\n').filter((l) => l !== '');
      const outside = files.filter((f) => !f.startsWith('opt/system-monitor/') && !['opt/', '.dockerenv', 'dev/', 'etc/', 'proc/', 'sys/'].some((p) => f === p || f.startsWith(p)));
      assert.deepEqual(outside, [], 'files outside /opt/system-monitor (docker adds only /dev, /etc/{hosts,hostname,resolv.conf}, /proc, /sys)');
      assert.ok(files.includes('opt/system-monitor/system-monitor') && files.includes('opt/system-monitor/start-with-monitor.sh'));
    } finally {
      docker('rm', id);
    }
    assert.equal(docker('run', '--rm', AGENT_IMAGE, '--version'), `${VERSION} (node v26.12.1)`);
  });

  describe('the agent beside a CPU burner with --cpus 0.5 --memory 128m', () => {
    let ctx: string;
    let port: number;
    let redis: Redis;
    let sub: Redis;
    const published = new Map<string, Payload[]>();

    before(async () => {
      ctx = mkdtempSync(join(tmpdir(), 'smtest-ctx-'));
      copyFileSync(burnerBinary(), join(ctx, 'burner'));
      docker('network', 'create', `${PREFIX}-net`);
      ({ port, redis } = await startTestValkey(PREFIX));
      sub = new Redis({ port, host: '127.0.0.1' });
      await sub.subscribe(METRICS_CHANNEL);
      sub.on('message', (_channel: string, raw: string) => {
        const p = payloadSchema.safeParse(JSON.parse(raw));
        if (!p.success) return;
        const list = published.get(p.data.container_name) ?? [];
        list.push(p.data);
        published.set(p.data.container_name, list);
      });
    });

    after(() => {
      sub.disconnect();
      redis.disconnect();
      rmSync(ctx, { recursive: true, force: true });
    });

    /**
     * An image made the README's way: the base, then the README's Dockerfile
     * lines. Without a shell they are copied as written, the burner standing
     * in for its `/app/server`; with one, the README's COPY line and its
     * wrapper, the burner as the main command instead of postgres' entrypoint
     * (postgres itself is the next test).
     */
    function imageOn(base: string, tag: string, shell: boolean): string {
      const readme = shell ? readmeWithShell : readmeWithoutShell;
      assert.ok(readme !== undefined, `README.md, "${ADD_SECTION}": two Dockerfile blocks, with a shell and without`);
      const copy = readme.filter((l) => l.startsWith('COPY --from='));
      assert.deepEqual(copy, [`COPY --from=${AGENT_IMAGE} /opt/system-monitor /opt/system-monitor`]);
      const burnerArgs = ['--term-exit', '42', '--hold-mb', '64'];
      const lines = shell
        ? [...copy, 'COPY burner /usr/local/bin/burner', `ENTRYPOINT ${JSON.stringify(entrypointOf(readme).slice(0, 1))}`, `CMD ${JSON.stringify(['/usr/local/bin/burner', ...burnerArgs])}`]
        : ['COPY burner /app/server', ...readme, `CMD ${JSON.stringify(burnerArgs)}`];
      if (!shell) assert.deepEqual(entrypointOf(readme), ['/opt/system-monitor/system-monitor', 'wrap', '--', '/app/server']);
      writeFileSync(join(ctx, `Dockerfile.${tag}`), [`FROM ${base}`, ...lines, ''].join('\n'));
      const image = `${PREFIX}-${tag}:latest`;
      run('docker', ['build', '-q', '-f', join(ctx, `Dockerfile.${tag}`), '-t', image, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
      return image;
    }

    // The musl image also gets a glibc libnvidia-ml.so.1 (the fake, built by the host's gcc) where
    // the NVIDIA Container Toolkit mounts the driver's in an image without a multiarch directory.
    const gpus = twoGpuConfig();
    const bases = [
      { tag: 'musl', base: 'system-monitor-test/musl:latest', shell: true, readOnly: true, nvml: true },
      { tag: 'empty', base: 'system-monitor-test/empty:latest', shell: false, readOnly: true, nvml: false },
      { tag: 'debian', base: 'system-monitor-test/debian:bookworm', shell: true, readOnly: false, nvml: false },
    ];

    for (const b of bases) {
      it(`${b.tag} image${b.readOnly ? ', read-only root' : ''}${b.nvml ? ', GPUs from a mounted glibc NVML' : ''}: limits, cores used, memory against the cgroup's own counter, signals and exit code passed through, final sample`, async () => {
        const image = imageOn(b.base, b.tag, b.shell);
        const name = `${PREFIX}-${b.tag}`;
        const nvmlConf = join(ctx, 'nvml.conf');
        writeFileSync(nvmlConf, Object.entries(gpus).map(([k, v]) => `${k} = ${String(v)}\n`).join(''));
        const nvml = b.nvml ? ['-v', `${buildFakeNvml()}:/usr/lib/libnvidia-ml.so.1:ro`, '-v', `${nvmlConf}:/nvml.conf:ro`, '-e', 'FAKE_NVML_CONFIG=/nvml.conf'] : [];
        const id = docker(
          'run', '-d', '--name', name, '--network', `${PREFIX}-net`, '--cpus', '0.5', '--memory', '128m',
          ...(b.readOnly ? ['--read-only'] : []),
          ...nvml,
          '-e', `CONTAINER_NAME=${name}`, '-e', `VALKEY_HOST=${PREFIX}-valkey`, '-e', 'INTERVAL_SECONDS=1',
          image,
        );
        // Rates need two reads; a few samples in, the burner has been throttled at its quota for seconds.
        // Eight: past the agent's start-up page-cache releases (before its 4th and 7th samples), which move the cgroup's counter.
        await until(`eight samples from ${name}`, () => ((published.get(name)?.length ?? 0) >= 8 ? true : null), 90_000);
        // With GPUs: a sample that carries them. The NVML worker starts inside the container's 0.5-CPU quota beside the
        // burner, and a tick whose GPU read missed its deadline publishes none (seen once in a full run); they must come.
        const s = await until(`a sample of ${name}${b.nvml ? ' with its GPUs' : ''}`, async () => {
          const got = await sampleOf(redis, name);
          return got !== null && b.nvml && got.gpus.length === 0 ? null : got;
        }, 30_000);
        assert.equal(s.cpu?.limit_cores, 0.5);
        assert.equal(s.memory?.limit_bytes, 128 * 1024 * 1024);
        assert.deepEqual(
          s.gpus.map((g) => g.uuid),
          b.nvml ? [gpus['gpu.0.uuid'], gpus['gpu.1.uuid']].map(String) : [],
        );
        const recent = (published.get(name) ?? []).slice(-3);
        for (const p of recent) {
          const used = p.cpu?.cores_used ?? NaN;
          assert.ok(Math.abs(used - 0.5) <= 0.05, `cores used ${used} within 0.5 ± 0.05`);
        }
        // Memory: the next published sample against memory.usage_in_bytes read at the moment the agent read it. The
        // counter is polled every 20 ms; the agent reads it in the first milliseconds of its tick (throttled by the
        // 0.5-CPU quota, perhaps later), so the readings from its timestamp to 1 s after are the candidates.
        const usage: { t: number; bytes: number }[] = [];
        const poll = setInterval(() => usage.push({ t: Date.now(), bytes: Number(readFileSync(join(memoryCgroup(id), 'memory.usage_in_bytes'), 'utf8')) }), 20);
        const seen = published.get(name)?.length ?? 0;
        let next: Payload;
        try {
          next = await until('the next sample', () => (published.get(name) ?? [])[seen] ?? null);
        } finally {
          clearInterval(poll);
        }
        const reported = next.memory_usage_bytes ?? NaN;
        const at = Date.parse(next.timestamp);
        const around = usage.filter((u) => u.t >= at - 20 && u.t <= at + 1000);
        assert.ok(around.length > 0, `cgroup readings around ${next.timestamp}: ${JSON.stringify(usage.slice(-5))}`);
        const closest = around.reduce((a, b) => (Math.abs(b.bytes - reported) < Math.abs(a.bytes - reported) ? b : a));
        assert.ok(
          Math.abs(reported - closest.bytes) <= closest.bytes * 0.01,
          `memory_usage_bytes ${reported} within 1 % of the cgroup's counter around its read: ${around.map((u) => `${String(u.t - at)} ms: ${String(u.bytes)}`).join(', ')}`,
        );

        // Every catchable signal reaches the burner; the wrapper survives each.
        for (const sig of ['HUP', 'INT', 'QUIT', 'USR1', 'USR2', 'WINCH']) {
          docker('kill', '-s', sig, name);
          await until(`${sig} at the main command`, () => (docker('logs', name).includes(`signal ${sig}`) ? true : null), 10_000);
        }
        assert.equal(docker('inspect', '-f', '{{.State.Running}}', name), 'true');
        docker('stop', '-t', '10', name);
        assert.equal(docker('inspect', '-f', '{{.State.ExitCode}}', name), '42', docker('logs', name));
        assert.equal((await sampleOf(redis, name))?.status, 'exited');
      });
    }

    it('docker run -i: the main command reads the stdin the wrapper got', () => {
      const image = imageOn('system-monitor-test/musl:latest', 'musl', true);
      const out = run('docker', ['run', '-i', '--rm', '--network', `${PREFIX}-net`, '-e', `VALKEY_HOST=${PREFIX}-valkey`, '-e', `CONTAINER_NAME=${PREFIX}-stdin`, image, 'sh', '-c', 'read line; echo "main got $line"'], { input: 'hello\n' });
      assert.match(out, /^main got hello$/m);
    });

    it("the README's postgres example as written: postgres starts under the wrapper, is monitored, and stops cleanly", async () => {
      assert.ok(readmeWithShell !== undefined, `README.md, "${ADD_SECTION}": a Dockerfile block for an image with a shell`);
      assert.deepEqual(entrypointOf(readmeWithShell), ['/opt/system-monitor/start-with-monitor.sh', 'docker-entrypoint.sh']);
      // Docker clears an inherited CMD when ENTRYPOINT is set, so the block must give postgres' own again.
      assert.ok(readmeWithShell.includes('CMD ["postgres"]'), `the block repeats postgres' CMD: ${JSON.stringify(readmeWithShell)}`);
      // The base the compose file pins for postgres (here its stand-in, with the official image's entrypoint and CMD).
      const base = z.object({ services: z.object({ postgres: z.object({ image: z.string() }) }) }).parse(parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true })).services.postgres.image;
      writeFileSync(join(ctx, 'Dockerfile.postgres'), [`FROM ${base}`, ...readmeWithShell, ''].join('\n'));
      const image = `${PREFIX}-postgres:latest`;
      run('docker', ['build', '-q', '-f', join(ctx, 'Dockerfile.postgres'), '-t', image, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
      // "set CONTAINER_NAME and VALKEY_HOST (or VALKEY_URL) on the container".
      const name = `${PREFIX}-postgres`;
      docker('run', '-d', '--name', name, '--network', `${PREFIX}-net`, '-e', `CONTAINER_NAME=${name}`, '-e', `VALKEY_HOST=${PREFIX}-valkey`, '-e', 'POSTGRES_PASSWORD=example', '-e', 'INTERVAL_SECONDS=1', image);
      await until('postgres accepting connections', () => {
        const r = spawnSync('docker', ['exec', name, 'pg_isready'], { encoding: 'utf8' });
        return r.status === 0 ? true : null;
      }, 60_000);
      // Postgres' own processes (postmaster, checkpointer, walwriter, ...) in the sample, read after it is ready.
      const since = new Date().toISOString();
      const s = await until(`a sample of ${name} with postgres running`, async () => {
        const got = await sampleOf(redis, name);
        return got !== null && got.timestamp > since && (got.processes?.top ?? []).filter((p) => p.name === 'postgres').length >= 3 ? got : null;
      }, 30_000);
      assert.equal(s.status, 'running');
      const inContainer = Number(run('sh', ['-c', `docker exec ${name} sh -c 'ls -d /proc/[0-9]* | wc -l'`]).trim());
      assert.ok(s.process_count !== null && s.process_count >= 5 && s.process_count <= inContainer + 2, `process_count ${String(s.process_count)} against ${String(inContainer)} in the container`);
      docker('stop', '-t', '30', name);
      assert.equal(docker('inspect', '-f', '{{.State.ExitCode}}', name), '0', docker('logs', name));
      assert.equal((await sampleOf(redis, name))?.status, 'exited');
    });
  });

  describe('docker-compose.yml', () => {
    /** The README's commands, with Compose v1 (what Debian packages); a project name keeps it apart from a user's own. */
    const compose = (...args: string[]): string =>
      run('docker-compose', ['-p', `${PREFIX}compose`, ...args], { cwd: REPO, env: { ...process.env, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' }, timeout: 900_000 });
    /** A `docker compose …` line of the README's "With Docker" section, as Compose v1 arguments. */
    const readmeCompose = (prefix: string): string[] => readmeLine('With Docker', `docker compose ${prefix}`).split(/\s+/).slice(2);
    /** Another line of that section, run through a shell as written. */
    const readmeShell = (prefix: string): string => run('sh', ['-c', readmeLine('With Docker', prefix)], { cwd: REPO, timeout: 30_000 });
    const limits = {
      valkey: { cores: 0.5, bytes: 256 * 1024 * 1024 },
      'example-postgres': { cores: 1, bytes: 512 * 1024 * 1024 },
      'example-node-app': { cores: 0.25, bytes: 128 * 1024 * 1024 },
    } as const;
    let redis: Redis | undefined;

    before(async () => {
      for (const port of [8080, 6380, 3000]) {
        const free = await new Promise<boolean>((resolve) => {
          const s = createServer();
          s.once('error', () => { resolve(false); });
          s.listen(port, '127.0.0.1', () => s.close(() => { resolve(true); }));
        });
        assert.ok(free, `127.0.0.1:${port} is taken; docker-compose.yml publishes it (stop what listens there)`);
      }
      compose(...readmeCompose('up --build -d'));
    });

    after(() => {
      redis?.disconnect();
      spawnSync('docker-compose', ['-p', `${PREFIX}compose`, 'down', '-v', '--remove-orphans'], { cwd: REPO });
    });

    it('every monitored service publishes its key with the limits compose set; the aggregator lists them and serves its page; compose down leaves each final "exited" sample', async () => {
      // As the aggregator: the compose Valkey lets unauthenticated clients only PING.
      const asAggregator = composeValkeyUser('aggregator');
      const r = new Redis({ port: 6380, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, commandTimeout: 5000, ...asAggregator });
      redis = r;
      await until('Valkey on 127.0.0.1:6380', async () => {
        try {
          if (r.status !== 'ready') await r.connect();
          return (await r.ping()) === 'PONG' ? true : null;
        } catch {
          r.disconnect();
          return null;
        }
      }, 120_000);
      for (const [name, want] of Object.entries(limits)) {
        const s = await until(`a sample from ${name}`, () => sampleOf(r, name), 120_000);
        assert.equal(s.status, 'running', name);
        assert.equal(s.cpu?.limit_cores, want.cores, `${name} cpu limit`);
        assert.equal(s.memory?.limit_bytes, want.bytes, `${name} memory limit`);
      }
      // The compose example sets a token (examples/aggregator/tokens.json): without it the API answers 401.
      const unauthenticated = await until('the aggregator answering', () => fetch('http://127.0.0.1:8080/api/v1/containers', { signal: AbortSignal.timeout(5000) }).catch(() => null), 120_000);
      assert.equal(unauthenticated.status, 401);
      const listed = await until('the aggregator listing every service ok', async () => {
        try {
          const res = await fetch('http://127.0.0.1:8080/api/v1/containers', { headers: { Authorization: 'Bearer example-viewer-token-change-me' }, signal: AbortSignal.timeout(5000) });
          if (!res.ok) return null;
          const body = (await res.json()) as { containers: { name: string; status: string; cpu_limit_cores: number | null }[] };
          const ok = Object.keys(limits).every((n) => body.containers.some((c) => c.name === n && c.status === 'ok'));
          return ok ? body.containers : null;
        } catch {
          return null;
        }
      }, 120_000);
      for (const [name, want] of Object.entries(limits)) assert.equal(listed.find((c) => c.name === name)?.cpu_limit_cores, want.cores);
      // The README's own commands, as written: redis-cli as the aggregator's user, curl with the viewer token.
      const viaCli = payloadSchema.parse(JSON.parse(readmeShell('redis-cli -p 6380')));
      assert.equal(viaCli.container_name, 'example-postgres');
      const viaCurl = z.object({ containers: z.array(z.object({ name: z.string() })) }).parse(JSON.parse(readmeShell('curl -H')));
      assert.deepEqual(Object.keys(limits).filter((n) => !viaCurl.containers.some((c) => c.name === n)), [], 'curl lists every service');
      const page = await fetch('http://127.0.0.1:8080/', { signal: AbortSignal.timeout(10_000) });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);

      // The store is the last to stop; the other agents' final samples reach it first.
      const sub = new Redis({ port: 6380, host: '127.0.0.1', ...asAggregator });
      const exited = new Set<string>();
      await sub.subscribe(METRICS_CHANNEL);
      sub.on('message', (_c: string, raw: string) => {
        const p = payloadSchema.safeParse(JSON.parse(raw));
        if (p.success && p.data.status === 'exited') exited.add(p.data.container_name);
      });
      try {
        // Asynchronously: the samples arrive while it runs, and a blocked event loop would not read them.
        await new Promise<void>((resolve, reject) => {
          const down = spawn('docker-compose', ['-p', `${PREFIX}compose`, ...readmeCompose('down -v')], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          down.stderr.on('data', (d: Buffer) => (err += d.toString()));
          down.once('error', reject);
          down.once('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`docker-compose down exited ${String(code)}: ${err}`)); });
        });
      } finally {
        sub.disconnect();
      }
      // The valkey service's own agent stops after its server, so its final sample has nowhere to go.
      assert.deepEqual([...exited].sort(), ['example-node-app', 'example-postgres']);
      assert.equal(docker('ps', '-aq', '--filter', `name=^${PREFIX}compose`), '', 'compose down removed every container');
    });
  });
});
