/**
 * `npm run bench:binary`: start-up and memory of the single executable
 * (dist/system-monitor, built by `npm run build`). Start-up is exec to the
 * first sample written to Valkey (seen on the pub/sub channel, which is
 * published in the same pipeline as the SET). Steady RSS is read from
 * /proc/<pid>/status after 30 samples at a 1 s interval. Peer in the same
 * run: a bare `node -e` of the same embedded Node, exec to exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { METRICS_CHANNEL } from '../shared/src/keys.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';

const REPO = join(import.meta.dirname, '..');
const BIN = join(REPO, 'dist/system-monitor');
const FIX = join(REPO, 'agent/test/fixtures/docker-v2');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 7);
  const server = new RedisServer(await freePort());
  await server.start();
  const sub = new Redis({ port: server.port, host: '127.0.0.1' });
  await sub.subscribe(METRICS_CHANNEL);
  const env = { PATH: '', CONTAINER_NAME: 'bench-bin', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'warn', CGROUP_ROOT: join(FIX, 'sys/fs/cgroup'), PROC_ROOT: join(FIX, 'proc'), SYS_ROOT: join(FIX, 'sys') };
  const startup: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const first = new Promise<void>((resolve) => sub.once('message', () => { resolve(); }));
      const t0 = performance.now();
      const child = spawn(BIN, [], { env, stdio: 'ignore' });
      await first;
      startup.push(performance.now() - t0);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const nodeBin = spawnSync(BIN, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      bare.push(performance.now() - t0);
    }
    const child = spawn(BIN, [], { env, stdio: 'ignore' });
    await sleep(30_000);
    const rss = rssMb(child.pid ?? 0);
    child.kill('SIGKILL');
    process.stdout.write(
      `${JSON.stringify(
        {
          binary: nodeBin,
          exec_to_first_sample_written_ms: { median: Math.round(median(startup)), all: startup.map(Math.round) },
          peer_bare_node20_exec_to_exit_ms: Math.round(median(bare)),
          steady_rss_mb_after_30_samples: Number(rss.toFixed(1)),
          target: 'exec to first sample <= 150 ms; steady RSS <= 48 MB',
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    sub.disconnect();
    await server.stop();
  }
}

await main();
