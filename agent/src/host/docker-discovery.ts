import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { locateCgroup } from '../cgroup/locate.js';
import type { CgroupLocation } from '../cgroup/location.js';
import { processHierarchy } from '../container-pids.js';
import { dockerCgroupPath, type CgroupDriver } from './cgroup-paths.js';
import { DockerClient } from './docker-api.js';
import type { EngineEvent, InspectedContainer } from './docker-schemas.js';
import { decideName } from './labels.js';
import type { ContainerTarget, Discovery, DiscoveryHandlers, GpuAssignment } from './target.js';

export interface DockerDiscoveryOptions {
  socketPath: string;
  procRoot: string;
  cgroupRoot: string;
  log: Logger;
  /** Reconnect delays of the event stream: doubled from base up to max. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

/** Without a working event stream, the container list is read again this often (and after every reconnect). */
const RESYNC_MS = 60_000;

/** GPUs a container was given: device requests for the `gpu` capability (`--gpus`), else NVIDIA_VISIBLE_DEVICES. */
export function gpuAssignment(c: InspectedContainer): GpuAssignment {
  const ids: string[] = [];
  for (const r of c.HostConfig?.DeviceRequests ?? []) {
    const gpu = r.Driver === 'nvidia' || (r.Capabilities ?? []).some((set) => set.includes('gpu'));
    if (!gpu) continue;
    if (r.Count === -1) return { all: true };
    ids.push(...(r.DeviceIDs ?? []));
  }
  const env = c.Config.Env.find((e) => e.startsWith('NVIDIA_VISIBLE_DEVICES='))?.slice('NVIDIA_VISIBLE_DEVICES='.length).trim();
  if (env === 'all') return { all: true };
  if (env !== undefined && env !== '' && env !== 'none' && env !== 'void') ids.push(...env.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  return { all: false, ids: [...new Set(ids)] };
}

/**
 * The containers of a Docker engine, through its API on the Unix socket: the
 * running ones at start, then the events stream (start adds one, die / stop /
 * destroy remove it) with reconnects that ask for the events since the last
 * one seen and re-read the list, so nothing is missed across a gap.
 */
export class DockerDiscovery implements Discovery {
  readonly describe: string;
  private readonly client: DockerClient;
  private driver: CgroupDriver = 'cgroupfs';
  private handlers: DiscoveryHandlers | null = null;
  private readonly known = new Set<string>();
  /** Died while an inspect of it was in flight: that inspect's answer is stale. */
  private readonly gone = new Set<string>();
  private readonly abort = new AbortController();
  private streaming = false;
  private lastEventS: number | null = null;
  private lastSyncMs = 0;
  private syncing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly opts: DockerDiscoveryOptions) {
    this.client = new DockerClient(opts.socketPath);
    this.describe = `docker ${opts.socketPath}`;
  }

  async start(handlers: DiscoveryHandlers): Promise<void> {
    this.handlers = handlers;
    const info = await this.client.info();
    this.driver = info.CgroupDriver === 'systemd' ? 'systemd' : 'cgroupfs';
    this.opts.log.info({ driver: this.driver, cgroup_version: info.CgroupVersion ?? null }, 'Docker engine found');
    this.lastEventS = Math.floor(Date.now() / 1000);
    await this.resync();
    void this.watch();
  }

  async refresh(): Promise<void> {
    if (this.streaming && Date.now() - this.lastSyncMs < RESYNC_MS) return;
    await this.resync();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
  }

  /** Reads the running list: adds what is new, removes what is gone. One at a time. */
  private async resync(): Promise<void> {
    this.syncing ??= this.doResync().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async doResync(): Promise<void> {
    const list = await this.client.list();
    this.lastSyncMs = Date.now();
    this.gone.clear();
    const running = new Set(list.filter((c) => c.State === 'running').map((c) => c.Id));
    for (const id of [...this.known]) {
      if (!running.has(id)) this.remove(id, 'no longer running (found on re-reading the container list)');
    }
    for (const id of running) if (!this.known.has(id)) await this.add(id);
  }

  private async add(id: string): Promise<void> {
    let c: InspectedContainer | null;
    try {
      c = await this.client.inspect(id);
    } catch (err) {
      this.opts.log.warn({ err, id }, 'cannot inspect a container; it is picked up on the next re-read');
      return;
    }
    if (c === null || !c.State.Running || c.State.Pid <= 0 || this.known.has(c.Id) || this.gone.has(c.Id)) return;
    const decision = decideName(c.Name, c.Config.Labels);
    if (!decision.monitor) {
      this.opts.log.info({ id: c.Id.slice(0, 12), name: c.Name, reason: decision.reason }, 'container not monitored');
      return;
    }
    let cgroup: CgroupLocation;
    try {
      cgroup = this.locate(c);
    } catch (err) {
      this.opts.log.warn({ err, name: decision.name }, 'cannot find the container cgroup; not monitored');
      return;
    }
    this.known.add(c.Id);
    const target: ContainerTarget = {
      id: c.Id,
      name: decision.name,
      hostname: c.Config.Hostname ?? decision.name,
      cgroup,
      initPid: c.State.Pid,
      gpus: gpuAssignment(c),
    };
    this.handlers?.added(target);
  }

  /** Its first process's own cgroup file; else where the engine's driver puts it. */
  private locate(c: InspectedContainer): CgroupLocation {
    const base = { procRoot: this.opts.procRoot, cgroupRoot: this.opts.cgroupRoot };
    try {
      return locateCgroup({ ...base, pid: c.State.Pid });
    } catch (err) {
      const path = dockerCgroupPath(c.Id, this.driver, c.HostConfig?.CgroupParent);
      const loc = locateCgroup({ ...base, cgroupPath: path });
      const h = processHierarchy(loc);
      if (h === null || !existsSync(join(h.dir, 'cgroup.procs'))) throw new Error(`${this.driver} driver path ${path} not found, and process ${c.State.Pid}'s cgroup could not be read`, { cause: err });
      return { ...loc, source: 'host-namespace' };
    }
  }

  private remove(id: string, reason: string): void {
    if (!this.known.delete(id)) {
      this.gone.add(id);
      return;
    }
    this.handlers?.removed(id, reason);
  }

  private onEvent(e: EngineEvent): void {
    if (typeof e.time === 'number') this.lastEventS = e.time;
    const id = e.Actor.ID;
    if (e.Action === 'start') {
      this.gone.delete(id);
      void this.add(id);
    } else if (e.Action === 'die' || e.Action === 'stop' || e.Action === 'destroy') {
      const code = e.Actor.Attributes?.exitCode;
      this.remove(id, `docker event ${e.Action}${code !== undefined ? ` (exit code ${code})` : ''}`);
    }
  }

  private async watch(): Promise<void> {
    const base = this.opts.reconnectBaseMs ?? 500;
    const max = this.opts.reconnectMaxMs ?? 30_000;
    let delay = base;
    let gap = false;
    while (!this.closed) {
      try {
        const since = this.lastEventS ?? undefined;
        const stream = this.client.events({
          sinceS: since,
          signal: this.abort.signal,
          onEvent: (e) => {
            this.onEvent(e);
          },
          onBad: (reason) => {
            this.opts.log.warn({ reason }, 'ignored a line of the Docker event stream');
          },
        });
        this.streaming = true;
        if (gap) {
          this.opts.log.info('Docker event stream back');
          await this.resync().catch((err: unknown) => {
            this.opts.log.warn({ err }, 'cannot re-read the container list');
          });
        }
        await stream;
        delay = base;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.opts.log.warn({ err, retry_ms: delay }, 'Docker event stream failed; reconnecting');
      }
      this.streaming = false;
      if (this.abort.signal.aborted) return;
      gap = true;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(max, delay * 2);
    }
  }
}
