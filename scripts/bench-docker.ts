/**
 * `npm run bench:docker -- [runs] [--release DIR]`: the release (dist/system-monitor/, from
 * `npm run build`) inside a musl-only container on the Docker engine: exec to
 * the first sample written to Valkey, and what the agent costs its container
 * 40 s after it starts at the default 5 s interval: its VmRSS, the memory
 * cgroup's whole charge (usage, page cache included) and what `docker stats`
 * shows, with a fresh copy of the release (new files, dropped from the page
 * cache, as a release just unpacked or copied into an image is read). Peers
 * in the same run: `docker exec` of busybox `true` in the same container (the
 * engine's own exec cost, which the start-up figure includes), a container of
 * the same image running only `sleep` (the charge without the agent), and the
 * release's size beside its tarball.
 *
 * The container uses the host's network namespace only so that the agent
 * reaches the benchmark's own redis-server on 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { METRICS_CHANNEL } from '../shared/src/keys.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { docker, MUSL_STAND_IN } from './docker-cli.js';
import { ensureStandIns } from './docker/stand-ins.js';

const REPO = join(import.meta.dirname, '..');
// `--release DIR` measures another build's release directory (an older one, to compare).
const releaseAt = process.argv.indexOf('--release');
const RELEASE = releaseAt === -1 ? join(REPO, 'dist/system-monitor') : (process.argv[releaseAt + 1] ?? '');
const TARBALL = join(REPO, 'dist/system-monitor-linux-x64.tar.gz');
const IMAGE = MUSL_STAND_IN;
const NAME = 'smbench-musl';
const MEMORY_SECONDS = 40;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mib = (bytes: number): number => Number((bytes / 1048576).toFixed(1));

function statusMb(pid: number, field: string): number {
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Number((kb / 1024).toFixed(1));
}

async function main(): Promise<void> {
  const runs = Number(process.argv.slice(2).find((a, i, all) => /^\d+$/.test(a) && all[i - 1] !== '--release') ?? 7);
  if (!existsSync(join(RELEASE, 'system-monitor'))) throw new Error(`${RELEASE} is missing: run \`npm run build\` first`);
  await ensureStandIns();
  spawnSync('docker', ['rm', '-f', NAME]);
  const server = new RedisServer(await freePort());
  await server.start();
  const sub = new Redis({ port: server.port, host: '127.0.0.1' });
  await sub.subscribe(METRICS_CHANNEL);
  const env = (name: string): string[] => ['-e', `CONTAINER_NAME=${name}`, '-e', 'INTERVAL_SECONDS=1', '-e', `VALKEY_URL=redis://127.0.0.1:${server.port}`, '-e', 'LOG_LEVEL=warn'];
  try {
    docker('run', '-d', '--name', NAME, '--network', 'host', '-v', `${RELEASE}:/opt/system-monitor:ro`, IMAGE, 'sleep', '3600');
    const execTrue: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      docker('exec', NAME, 'true');
      if (i > 0) execTrue.push(performance.now() - t0);
    }
    const startup: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const first = new Promise<void>((resolve) => sub.once('message', () => { resolve(); }));
      const t0 = performance.now();
      docker('exec', '-d', ...env(`bench-musl-${i}`), NAME, '/opt/system-monitor/system-monitor');
      await first;
      // Run 0 only warms the page cache, like every later exec of an installed release.
      if (i > 0) startup.push(performance.now() - t0);
      // Debian's busybox-static has no pkill; pidof matches the process name the agent sets.
      docker('exec', NAME, 'sh', '-c', 'kill -9 $(pidof system-monitor)');
      await sleep(200);
    }

    // A fresh copy on disk (not tmpfs), dropped from the page cache: nothing of it is cached or charged anywhere yet.
    const fresh = mkdtempSync(join(REPO, '.cache/bench-docker-release-'));
    cpSync(RELEASE, fresh, { recursive: true });
    for (const f of filesUnder(fresh)) spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
    const withAgent = docker('run', '-d', '--name', `${NAME}-mem`, '--network', 'host', '-v', `${fresh}:/opt/system-monitor:ro`, IMAGE, 'sleep', '3600');
    const peer = docker('run', '-d', '--name', `${NAME}-peer`, '--network', 'host', IMAGE, 'sleep', '3600');
    const memEnv = env('bench-musl-memory').map((e) => (e === 'INTERVAL_SECONDS=1' ? 'INTERVAL_SECONDS=5' : e));
    docker('exec', '-d', ...memEnv, `${NAME}-mem`, '/opt/system-monitor/system-monitor');
    await sleep(MEMORY_SECONDS * 1000);
    const charge = (cid: string): Record<string, number> => {
      const cg = `/sys/fs/cgroup/memory/docker/${cid}`;
      const stat = readFileSync(join(cg, 'memory.stat'), 'utf8');
      const statMb = (key: string): number => mib(Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(stat)?.[1] ?? NaN));
      return { usage: mib(Number(readFileSync(join(cg, 'memory.usage_in_bytes'), 'utf8'))), rss: statMb('total_rss'), cache: statMb('total_cache'), active_file: statMb('total_active_file'), inactive_file: statMb('total_inactive_file') };
    };
    const stats = Object.fromEntries(
      docker('stats', '--no-stream', '--format', '{{.Name}}\t{{.MemUsage}}', `${NAME}-mem`, `${NAME}-peer`)
        .split('\n')
        .map((l) => l.split('\t') as [string, string]),
    );
    const cgroup = `/sys/fs/cgroup/memory/docker/${withAgent}`;
    const pids = readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter((p) => p !== '').map(Number);
    const agent = pids.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'system-monitor');
    if (agent === undefined) throw new Error(`no process named system-monitor among ${pids.join(', ')} in ${NAME}-mem`);
    const agentMem = { vmrss_mb: statusMb(agent, 'VmRSS'), rss_anon_mb: statusMb(agent, 'RssAnon'), rss_file_mb: statusMb(agent, 'RssFile') };
    const withCharge = charge(withAgent);
    const peerCharge = charge(peer);
    spawnSync('docker', ['rm', '-f', `${NAME}-mem`, `${NAME}-peer`]);
    rmSync(fresh, { recursive: true, force: true });
    const overhead = median(execTrue);
    process.stdout.write(
      `${JSON.stringify(
        {
          image: `${IMAGE} (busybox-static and musl, no glibc)`,
          release_dir_mib: mib(filesUnder(RELEASE).reduce((n, f) => n + statSync(f).size, 0)),
          tarball: existsSync(TARBALL) ? { mib: mib(statSync(TARBALL).size), mb: Number((statSync(TARBALL).size / 1e6).toFixed(1)) } : 'not built (npm run build writes it)',
          peer_docker_exec_true_ms: Math.round(overhead),
          docker_exec_to_first_sample_written_ms: { median: Math.round(median(startup)), all: startup.map(Math.round) },
          exec_to_first_sample_written_ms_less_docker_exec: Math.round(median(startup) - overhead),
          [`after_${MEMORY_SECONDS}_s_at_5_s_interval_fresh_release`]: {
            agent: agentMem,
            container_with_agent: { memory_cgroup_mb: withCharge, docker_stats: stats[`${NAME}-mem`] ?? null },
            peer_container_sleep_only: { memory_cgroup_mb: peerCharge, docker_stats: stats[`${NAME}-peer`] ?? null },
          },
          target: 'exec to first sample <= 150 ms; steady RSS <= 48 MB; docker stats of the container with the agent <= 40 MB; its cgroup usage incl. cache <= 64 MB',
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    spawnSync('docker', ['rm', '-f', NAME, `${NAME}-mem`, `${NAME}-peer`]);
    sub.disconnect();
    await server.stop();
  }
}

await main();
