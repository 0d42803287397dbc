/**
 * `npm start`: the whole system on this machine, for a first look. Starts a
 * throw-away Valkey (valkey-server or redis-server from PATH, on a free port,
 * data in a temporary directory), the aggregator when this checkout has it,
 * and one agent monitoring the container or host it runs in; prints where to
 * look; SIGINT/SIGTERM stop everything and remove the Valkey data.
 *
 * Children run in their own process groups so a terminal's Ctrl-C reaches
 * only this supervisor, which stops them in order: agent and aggregator first
 * (the agent writes its final "exited" sample), Valkey last.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ConfigError } from '../shared/src/config.js';
import { metricsKey } from '../shared/src/keys.js';
import { parseStartOptions, START_USAGE, wantsHelp, type StartOptions } from './start-options.js';
import { AGGREGATOR_ENV, AGGREGATOR_NODE_FLAGS } from './aggregator-runtime.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
/** SYSTEM_MONITOR_AGGREGATOR_MAIN: another entry point, relative to the checkout (the tests' stand-in). */
const AGGREGATOR_MAIN = process.env.SYSTEM_MONITOR_AGGREGATOR_MAIN ?? 'aggregator/src/main.ts';
const STOP_GRACE_MS = 5000;

class StartError extends Error {}

const out = (s: string): void => {
  process.stdout.write(s);
};
const note = (s: string): void => {
  process.stderr.write(`start: ${s}\n`);
};

/** The first of `names` that is an executable file on PATH, as a full path. */
export function findOnPath(names: readonly string[], path: string): string | null {
  for (const name of names) {
    for (const dir of path.split(delimiter)) {
      if (dir === '') continue;
      const full = join(dir, name);
      try {
        accessSync(full, constants.X_OK);
        return full;
      } catch {
        // not here
      }
    }
  }
  return null;
}

function serverBinary(): string {
  const path = process.env.PATH ?? '';
  const found = findOnPath(['valkey-server', 'redis-server'], path);
  if (found !== null) return found;
  const apt = findOnPath(['apt-get'], path);
  if (process.getuid?.() === 0 && apt !== null) {
    note("neither valkey-server nor redis-server is on PATH: installing Debian's redis-server with apt-get (running as root)");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-q'], ['install', '-y', '-q', '--no-install-recommends', 'redis-server']]) {
      const r = spawnSync(apt, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
      if (r.status !== 0) throw new StartError(`apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal ?? '?'}); install valkey-server or redis-server yourself, or set VALKEY_URL`);
    }
    const installed = findOnPath(['redis-server'], `${path}${delimiter}/usr/bin${delimiter}/usr/sbin`);
    if (installed !== null) return installed;
    throw new StartError('apt-get installed redis-server but no redis-server binary was found');
  }
  throw new StartError(
    'neither valkey-server nor redis-server is on PATH. Install one (sudo apt-get install redis-server), or point npm start at an existing server with VALKEY_URL=redis://host:port',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => {
        if (a !== null && typeof a === 'object') resolve(a.port);
        else reject(new Error('no port from the OS'));
      });
    });
  });
}

/** A child in its own process group, its output prefixed on stderr (or kept, when quiet). */
class Managed {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private tail: string[] = [];

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    quiet = false,
  ) {
    this.child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.tail.push(err.message);
        resolve({ code: 127, signal: null });
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buf = '';
      stream?.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          this.tail = [...this.tail.slice(-19), line];
          if (!quiet) process.stderr.write(`[${label}] ${line}\n`);
        }
      });
    }
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  lastLines(): string {
    return this.tail.join('\n');
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone already
    }
  }

  /** SIGTERM, then SIGKILL for the whole group after the grace time; resolves when it has exited. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      // The grace timer is aborted once the child exits, or it would hold the event loop for its full time.
      const grace = new AbortController();
      const late = await Promise.race([
        this.exited.then(() => false),
        sleep(STOP_GRACE_MS, true, { signal: grace.signal }).catch(() => false),
      ]);
      grace.abort();
      if (late) note(`${this.label} did not stop within ${STOP_GRACE_MS} ms: killing it`);
    }
    // Also takes helpers it started (the agent's NVML worker) and a child that ignored SIGTERM.
    this.signalGroup('SIGKILL');
    await this.exited;
  }

  /** Last resort on exit: nothing may outlive the supervisor. */
  killNow(): void {
    this.signalGroup('SIGKILL');
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, alive: () => boolean): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!alive()) return false;
    if (await check().catch(() => false)) return true;
    await sleep(100);
  }
  note(`${what} not ready after ${timeoutMs / 1000} s`);
  return false;
}

function redisCliCommand(opts: StartOptions, url: string, port: number | null): string {
  const key = metricsKey(opts.containerName);
  return port !== null ? `redis-cli -p ${port} get ${key}` : `redis-cli -u ${url} get ${key}`;
}

/** Runs until SIGINT/SIGTERM or a child's unexpected exit; returns the exit code. */
export async function startCli(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    out(START_USAGE);
    return 0;
  }
  let opts: StartOptions;
  try {
    opts = parseStartOptions(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`start: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const children: Managed[] = [];
  let valkey: Managed | null = null;
  let dataDir: string | null = null;
  let redis: Redis | null = null;
  // An object, not a let: the signal handler changes it behind the compiler's narrowing.
  const state = { stopping: false };
  let wake: (reason: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => {
    wake = resolve;
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!state.stopping) out(`\n${sig}: stopping ...\n`);
    state.stopping = true;
    wake(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const lastResort = (): void => {
    for (const c of [...children, ...(valkey === null ? [] : [valkey])]) c.killNow();
    if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', lastResort);

  let code = 0;
  try {
    let url: string;
    let startedPort: number | null = null;
    let serverName = '';
    if (opts.valkeyUrl === null) {
      const bin = serverBinary();
      serverName = bin.split('/').at(-1) ?? bin;
      startedPort = opts.valkeyPort ?? (await freePort());
      dataDir = mkdtempSync(join(tmpdir(), 'system-monitor-valkey-'));
      valkey = new Managed(serverName, bin, ['--port', String(startedPort), '--bind', '127.0.0.1', '--dir', dataDir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], process.env, true);
      url = `redis://127.0.0.1:${startedPort}`;
    } else {
      url = opts.valkeyUrl;
    }
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200 });
    client.on('error', () => undefined);
    redis = client;
    const server = valkey;
    const ready = await waitFor(
      `Valkey at ${url}`,
      10_000,
      async () => {
        if (client.status === 'wait') await client.connect();
        await client.ping();
        return true;
      },
      () => !state.stopping && (server === null || server.running),
    );
    if (!ready) {
      if (state.stopping) return 0;
      throw new StartError(server !== null && !server.running ? `${serverName} exited at start:\n${server.lastLines()}` : `cannot reach Valkey at ${url}`);
    }

    const childEnv = { ...process.env, VALKEY_URL: url, CONTAINER_NAME: opts.containerName };
    const tsx = [process.execPath, '--import', 'tsx'] as const;
    let aggregator: Managed | null = null;
    if (existsSync(join(REPO, AGGREGATOR_MAIN))) {
      aggregator = new Managed('aggregator', tsx[0], [...AGGREGATOR_NODE_FLAGS, ...tsx.slice(1), AGGREGATOR_MAIN, '--port', String(opts.port), '--host', opts.host], { ...AGGREGATOR_ENV, ...childEnv, PORT: String(opts.port), HOST: opts.host });
      children.push(aggregator);
    }
    const agent = new Managed('agent', tsx[0], [...tsx.slice(1), 'agent/src/main.ts', 'run'], childEnv);
    children.push(agent);

    const webHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
    const base = `http://${webHost.includes(':') ? `[${webHost}]` : webHost}:${opts.port}`;
    const allRunning = (): boolean => !state.stopping && children.every((c) => c.running);
    if (aggregator !== null) await waitFor(`the aggregator (${base}/healthz)`, 20_000, async () => (await fetch(`${base}/healthz`)).ok, allRunning);
    await waitFor(`the agent's first sample (${metricsKey(opts.containerName)})`, 20_000, async () => (await client.exists(metricsKey(opts.containerName))) === 1, allRunning);

    if (!state.stopping && children.every((c) => c.running)) {
      const interval = process.env.INTERVAL_SECONDS ?? '5';
      const lines = [
        'system-monitor is running (Ctrl-C stops everything)',
        `  valkey       ${url}${startedPort !== null ? `  (${serverName}, temporary data in ${dataDir ?? '?'})` : '  (existing server)'}`,
        ...(aggregator !== null
          ? [`  dashboard    ${base}/`, `  api          ${base}/api/v1/containers`, `  health       ${base}/healthz`]
          : [`  aggregator   not started: ${AGGREGATOR_MAIN} is not in this checkout`]),
        `  agent        ${opts.containerName}, a sample every ${interval} s`,
        'try:',
        `  ${redisCliCommand(opts, url, startedPort)}`,
        '',
      ];
      out(lines.join('\n'));
    }

    const died = children.map((c) =>
      c.exited.then(({ code: c2, signal }) => `${c.label} exited (${signal ?? `code ${c2}`}):\n${c.lastLines()}`),
    );
    const reason = await Promise.race([stopRequested, ...died, ...(server === null ? [] : [server.exited.then(() => `${serverName} exited:\n${server.lastLines()}`)])]);
    if (!state.stopping) {
      state.stopping = true;
      note(`${reason}\nstopping everything`);
      code = 1;
    }
  } catch (err) {
    state.stopping = true;
    note(err instanceof StartError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err));
    code = 1;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    redis?.disconnect();
    await valkey?.stop();
    if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
    process.removeListener('exit', lastResort);
    out(code === 0 ? 'stopped; the temporary Valkey data is removed\n' : '');
  }
  return code;
}
