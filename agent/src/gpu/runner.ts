import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Gpu } from '../../../shared/src/payload.js';
import { mapGpuProcess, type PidMapOptions } from './pid-map.js';
import { workerMessageSchema, type NvmlInfo, type ReaderResult, type WorkerConfig, type WorkerRequest } from './protocol.js';
import { selfWorkerCommand, type WorkerCommand } from './worker-command.js';

/** One sample's GPU block. */
export interface GpuCollection {
  gpus: Gpu[];
  /** Merged into the payload's `unavailable` map (`gpus` for the whole block, `gpus.<uuid>.<field>`). */
  unavailable: Record<string, string>;
  /** Set when the block could not be read (published as the `gpu` collector's error). */
  error: string | null;
  ms: number;
}

/** What `doctor` reports about NVML. */
export type GpuDiagnosis =
  | { status: 'ok'; info: NvmlInfo; gpus: Gpu[] }
  | { status: 'no-library'; reason: string; searched: string[] }
  | { status: 'failed'; reason: string; hint: string | null };

export interface GpuRunnerOptions {
  log: Logger;
  /** NVML_LIBRARY_PATH, or null for the default search. */
  libraryPath: string | null;
  /** Each collection must answer within this; a worker that does not is killed. */
  deadlineMs: number;
  pidMap: PidMapOptions;
  /**
   * How to start the worker, or a function that finds it when it is first
   * started (and throws why there is none); defaults to the agent's own
   * program (worker-command.ts).
   */
  command?: WorkerCommand | (() => WorkerCommand);
  /** Environment of the worker (the agent's own by default). */
  env?: NodeJS.ProcessEnv;
  /** First respawn delay after the worker was killed or died; doubles up to respawnMaxMs. */
  respawnBaseMs?: number;
  respawnMaxMs?: number;
  /** Driver-level failures (not loaded, version mismatch) are retried from this, doubling up to retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  lostRetryMs?: number;
  /** A worker that has not loaded NVML by then is killed (a start is not bounded by the collection deadline). */
  startTimeoutMs?: number;
  /**
   * No NVML library is visible (library-visible.ts): collections answer the
   * empty block the worker would at once instead of waiting for its start.
   * The worker is not started for the first collection (`start()` it after
   * that, off the start-up path; later collections start it too) and has the
   * last word once it has loaded; a worker that exits before that ends the
   * presumption, so its failures are published as usual.
   */
  deferStart?: boolean;
}

interface Worker {
  child: ChildProcessByStdio<Writable, Readable, null>;
  ready: Promise<void>;
  isReady: boolean;
  pending: Map<number, (r: ReaderResult) => void>;
  exited: Promise<string>;
  /** Set when the worker broke the protocol; it is then the reason its exit is reported with. */
  protocolError: string | null;
}

type Wait<T> = { kind: 'value'; value: T } | { kind: 'timeout' } | { kind: 'exit'; why: string };

function raceDeadline<T>(p: Promise<T>, exited: Promise<string>, ms: number): Promise<Wait<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Wait<T>>((resolve) => {
    timer = setTimeout(() => {
      resolve({ kind: 'timeout' });
    }, Math.max(0, ms));
  });
  return Promise.race([
    p.then((value): Wait<T> => ({ kind: 'value', value })),
    exited.then((why): Wait<T> => ({ kind: 'exit', why })),
    timeout,
  ]).finally(() => {
    clearTimeout(timer);
  });
}

/**
 * Runs NVML in a child process (docs/gpu.md, decision 2): a hung NVML call
 * cannot be cancelled in-process, so each collection has a deadline, and a
 * worker that misses it is killed and respawned with exponential backoff
 * while the GPU block is published as unavailable with the reason. The rest
 * of the sample never waits longer than the deadline.
 */
export class GpuRunner {
  private worker: Worker | null = null;
  private nextId = 1;
  private respawnAt = 0;
  private respawns = 0;
  private lastFailure: string | null = null;
  /** No NVIDIA library here: GPU metrics are an empty list, and no worker is kept around. */
  private noLibrary = false;
  private closed = false;
  /** deferStart: no library is presumed until the worker has loaded or exited. */
  private presumedAbsent: boolean;
  private collections = 0;
  /** The last healthy identities, published as `unavailable` while the block cannot be read. */
  private lastGpus: Gpu[] = [];
  private readonly loggedReasons = new Set<string>();
  /** Why there is no worker program to start (none built, no compiler from source); GPU metrics are then off. */
  private noWorker: string | null = null;
  private readonly opts: Required<Omit<GpuRunnerOptions, 'command' | 'env'>> & { command: WorkerCommand | (() => WorkerCommand); env: NodeJS.ProcessEnv };

  constructor(opts: GpuRunnerOptions) {
    this.opts = {
      respawnBaseMs: 1000,
      respawnMaxMs: 60_000,
      retryBaseMs: 5000,
      retryMaxMs: 300_000,
      lostRetryMs: 30_000,
      startTimeoutMs: 30_000,
      deferStart: false,
      command: selfWorkerCommand,
      env: process.env,
      ...opts,
    };
    this.presumedAbsent = this.opts.deferStart;
  }

  /** PID of the current worker (tests watch it being replaced). */
  get workerPid(): number | null {
    return this.worker?.child.pid ?? null;
  }

  /** Starts the worker ahead of the first collection, so its start-up is not inside a deadline. */
  start(): void {
    if (this.noLibrary || this.closed || this.worker !== null || performance.now() < this.respawnAt) return;
    let command = this.opts.command;
    if (typeof command === 'function') {
      try {
        command = command();
        this.opts.command = command;
      } catch (err) {
        this.noWorker = err instanceof Error ? err.message : String(err);
        this.noLibrary = true;
        this.opts.log.warn({ reason: this.noWorker }, 'no NVML worker program: GPU metrics disabled');
        return;
      }
    }
    this.worker = this.spawnWorker(command);
  }

  /**
   * Waits until the worker has loaded NVML (or failed to start); false when
   * there is none to wait for. Collections do not need this; doctor and
   * tests use it so a slow start is not reported as "still starting".
   */
  async ready(): Promise<boolean> {
    this.start();
    const w = this.worker;
    if (w === null) return false;
    const r = await raceDeadline(w.ready, w.exited, this.opts.startTimeoutMs);
    return r.kind === 'value';
  }

  async collect(): Promise<GpuCollection> {
    this.collections += 1;
    if (this.presumedAbsent && !(this.worker?.isReady ?? false)) {
      if (this.collections > 1) this.start();
      return { gpus: [], unavailable: {}, error: null, ms: 0 };
    }
    const t0 = performance.now();
    const r = await this.request(t0);
    const ms = Math.round((performance.now() - t0) * 1000) / 1000;
    if (r.kind === 'empty') return { gpus: [], unavailable: {}, error: null, ms };
    if (r.kind === 'unavailable') return { ...this.unavailableBlock(r.reason), ms };
    const result = r.result;
    if (result.status === 'ok') {
      this.respawns = 0;
      this.lastFailure = null;
      const gpus = result.gpus.map((g) => this.mapProcesses(g));
      this.lastGpus = gpus.filter((g) => g.health !== 'lost');
      this.logOnce(result.reasons);
      return { gpus, unavailable: result.reasons, error: null, ms };
    }
    if (result.status === 'no-library') return { gpus: [], unavailable: {}, error: null, ms };
    const reason = result.hint === null ? result.reason : `${result.reason}; ${result.hint}`;
    if (this.lastFailure !== reason) {
      this.opts.log.warn({ reason: result.reason, hint: result.hint, retry_in_ms: result.retry_in_ms }, 'NVML unavailable');
      this.lastFailure = reason;
    }
    return { ...this.unavailableBlock(reason), ms };
  }

  /** Collects once and says what NVML looks like here (for `doctor`). */
  async diagnose(): Promise<GpuDiagnosis> {
    await this.ready();
    const r = await this.request(performance.now());
    if (r.kind === 'empty') return this.noWorker !== null ? { status: 'failed', reason: this.noWorker, hint: null } : { status: 'no-library', reason: 'no NVIDIA management library found', searched: [] };
    if (r.kind === 'unavailable') return { status: 'failed', reason: r.reason, hint: null };
    const res = r.result;
    if (res.status === 'ok') return { status: 'ok', info: res.info, gpus: res.gpus };
    if (res.status === 'no-library') return res;
    return { status: 'failed', reason: res.reason, hint: res.hint };
  }

  /** Stops the worker for good: it shuts NVML down and exits. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopWorker();
  }

  /** Asks the worker to shut NVML down and exit; one that does not within a second is killed. */
  private async stopWorker(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w === null) return;
    // Waited for now: the worker's handle was unreferenced so it never keeps the agent alive, and a wait on
    // its exit alone (after the kill below) let the event loop run dry; `once` then exited 0 without printing.
    w.child.ref();
    this.send(w, { op: 'shutdown' });
    w.child.stdin.end();
    const done = await raceDeadline(w.exited, new Promise<string>(() => undefined), 1000);
    if (done.kind === 'timeout') w.child.kill('SIGKILL');
    await w.exited;
  }

  private unavailableBlock(reason: string): Omit<GpuCollection, 'ms'> {
    const gpus = this.lastGpus.map((g) => ({
      ...g,
      utilization_percent: null,
      memory_utilization_percent: null,
      memory_used_bytes: null,
      memory_reserved_bytes: null,
      temperature_c: null,
      power_watts: null,
      energy_joules: null,
      fan_percent: null,
      clock_sm_mhz: null,
      clock_mem_mhz: null,
      clock_graphics_mhz: null,
      pcie_tx_bytes_per_sec: null,
      pcie_rx_bytes_per_sec: null,
      encoder_percent: null,
      decoder_percent: null,
      pstate: null,
      clocks_event_reasons: null,
      ecc_corrected: null,
      ecc_uncorrected: null,
      processes: null,
      health: 'unavailable' as const,
    }));
    return { gpus, unavailable: { gpus: reason }, error: reason };
  }

  private async request(t0: number): Promise<{ kind: 'empty' } | { kind: 'unavailable'; reason: string } | { kind: 'result'; result: ReaderResult }> {
    if (this.noLibrary || this.closed) return { kind: 'empty' };
    const now = performance.now();
    if (this.worker === null && now < this.respawnAt) {
      return { kind: 'unavailable', reason: `${this.lastFailure ?? 'NVML worker failed'}; worker restarts in ${Math.ceil(this.respawnAt - now)} ms` };
    }
    this.start();
    const w = this.worker;
    if (w === null) return this.noWorker !== null ? { kind: 'empty' } : { kind: 'unavailable', reason: 'NVML worker could not be started' };
    const deadline = t0 + this.opts.deadlineMs;
    if (!w.isReady) {
      const ready = await raceDeadline(w.ready, w.exited, deadline - performance.now());
      if (ready.kind === 'timeout') return { kind: 'unavailable', reason: 'NVML worker still starting' };
      if (ready.kind === 'exit') return { kind: 'unavailable', reason: this.workerFailed(w, ready.why) };
    }
    const id = this.nextId++;
    const reply = new Promise<ReaderResult>((resolve) => {
      w.pending.set(id, resolve);
    });
    this.send(w, { op: 'collect', id });
    const r = await raceDeadline(reply, w.exited, deadline - performance.now());
    w.pending.delete(id);
    if (r.kind === 'timeout') {
      w.child.kill('SIGKILL');
      return { kind: 'unavailable', reason: this.workerFailed(w, `NVML call timed out after ${this.opts.deadlineMs} ms`) };
    }
    if (r.kind === 'exit') return { kind: 'unavailable', reason: this.workerFailed(w, r.why) };
    if (r.value.status === 'no-library') {
      this.noLibrary = true;
      this.opts.log.info({ reason: r.value.reason }, 'no NVIDIA management library: GPU metrics disabled');
      void this.stopWorker();
    }
    return { kind: 'result', result: r.value };
  }

  /** Drops a worker that was killed or died and schedules its replacement. */
  private workerFailed(w: Worker, why: string): string {
    if (this.worker === w) this.worker = null;
    w.child.kill('SIGKILL');
    this.respawns += 1;
    const delay = Math.min(this.opts.respawnBaseMs * 2 ** (this.respawns - 1), this.opts.respawnMaxMs);
    this.respawnAt = performance.now() + delay;
    if (this.lastFailure !== why) this.opts.log.warn({ reason: why, respawn_in_ms: delay }, 'NVML worker failed, restarting it');
    this.lastFailure = why;
    return why;
  }

  private spawnWorker({ command, args }: WorkerCommand): Worker {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], env: this.opts.env });
    const pending = new Map<number, (r: ReaderResult) => void>();
    let markReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => {
        this.presumedAbsent = false;
        resolve(w.protocolError ?? `NVML worker exited (${signal ?? `code ${code}`})`);
      });
      child.once('error', (err) => {
        this.presumedAbsent = false;
        resolve(`NVML worker could not start: ${err.message}`);
      });
    });
    const w: Worker = { child, ready, isReady: false, pending, exited, protocolError: null };
    const startTimer = setTimeout(() => {
      if (!w.isReady) this.workerFailed(w, `NVML worker did not start within ${this.opts.startTimeoutMs} ms`);
    }, this.opts.startTimeoutMs);
    startTimer.unref();
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      this.onMessage(w, line, () => {
        w.isReady = true;
        clearTimeout(startTimer);
        markReady();
      });
    });
    // A worker that died leaves a broken pipe: its exit is handled above, not as an EPIPE crash.
    child.stdin.on('error', () => undefined);
    // The worker must never keep the agent alive on its own (`once`, tests): pending
    // collections hold the event loop through their deadline timers instead.
    child.unref();
    // With stdio 'pipe' both ends are net.Socket instances (typed as plain streams).
    for (const stream of [child.stdin, child.stdout]) (stream as unknown as Socket).unref();
    const config: WorkerConfig = {
      op: 'config',
      library_path: this.opts.libraryPath,
      retry_base_ms: this.opts.retryBaseMs,
      retry_max_ms: this.opts.retryMaxMs,
      lost_retry_ms: this.opts.lostRetryMs,
    };
    this.send(w, config);
    return w;
  }

  private onMessage(w: Worker, line: string, onReady: () => void): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.protocolError(w, `NVML worker wrote a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    const msg = workerMessageSchema.safeParse(json);
    if (!msg.success) {
      this.protocolError(w, `NVML worker sent a malformed message: ${msg.error.message}`);
      return;
    }
    if (msg.data.type === 'ready') onReady();
    else w.pending.get(msg.data.id)?.(msg.data.result);
  }

  /** A worker that breaks the protocol is not trusted with another request: it is killed, and the reason published. */
  private protocolError(w: Worker, why: string): void {
    w.protocolError = why;
    w.child.kill('SIGKILL');
  }

  private send(w: Worker, req: WorkerRequest): void {
    const stdin = w.child.stdin;
    if (stdin.destroyed) return;
    stdin.write(`${JSON.stringify(req)}\n`);
  }

  private mapProcesses(g: Gpu): Gpu {
    if (g.processes === null) return g;
    return { ...g, processes: g.processes.map((p) => ({ ...p, ...mapGpuProcess(p.pid, this.opts.pidMap) })) };
  }

  /** Each unsupported or failing GPU field is logged once, not every tick. */
  private logOnce(reasons: Record<string, string>): void {
    for (const [field, reason] of Object.entries(reasons)) {
      const key = `${field}\n${reason}`;
      if (this.loggedReasons.has(key)) continue;
      this.loggedReasons.add(key);
      this.opts.log.info({ field, reason }, 'GPU metric not available');
    }
  }
}
