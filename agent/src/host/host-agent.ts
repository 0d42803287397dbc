import type { Logger } from 'pino';
import type { Payload } from '../../../shared/src/payload.js';
import { describeValkey, type ValkeyConfig } from '../../../shared/src/valkey.js';
import { VERSION } from '../../../shared/src/version.js';
import { envFor } from '../agent-env.js';
import { createGpuSource } from '../collectors/gpu.js';
import { createCollectors } from '../collectors/index.js';
import { fdCountMethod, isProcfs } from '../collectors/processes-fds.js';
import { MAX_KEPT_PROCESSES, PidFileReader } from '../collectors/pid-files.js';
import type { GpuCollection, GpuRunner } from '../gpu/runner.js';
import { join, setJoinMemoLimit } from '../fsread/join.js';
import { closeKeptUnder, readTextFresh, setKeptFileLimit } from '../fsread/read-text.js';
import { nativePidStatsOrNull } from '../procfs/native-pid-stats.js';
import { dropReleaseCache, releaseStartupPages } from '../release-pages.js';
import { RELEASE_PAGES_AFTER_TICKS } from '../run.js';
import { monoNs } from '../rate.js';
import { Sampler } from '../sampler.js';
import { delay, onStopSignals } from '../stop-signals.js';
import { DeadlineTicker } from '../ticker.js';
import { CgroupDiscovery } from './cgroup-discovery.js';
import { DockerDiscovery } from './docker-discovery.js';
import { attributeGpus } from './gpu-attribution.js';
import { ProcessOwners } from './gpu-owners.js';
import type { HostConfig } from './host-config.js';
import { HostPublisher, type ContainerFeed, type FeedSample } from './host-publisher.js';
import { InitPidFinder } from './init-pid.js';
import type { ContainerTarget, Discovery } from './target.js';

const SHUTDOWN_BUDGET_MS = 1800;
/** Joined paths remembered: about 60 per container and one or two per process, for hundreds of containers. */
const HOST_JOIN_MEMO = 65_536;

/** One monitored container: its own collectors and sampler, as its sidecar would have, and its share of the host's Valkey connection. */
class Monitored {
  readonly sampler: Sampler;
  readonly feed: ContainerFeed;
  last: Payload | null = null;
  stopped = false;
  private readonly procRoot: string;

  constructor(
    readonly target: ContainerTarget,
    private readonly deps: { config: HostConfig; publisher: HostPublisher; log: Logger; files: PidFileReader; gpu: (id: string) => Promise<GpuCollection> },
  ) {
    const { config, log } = deps;
    const a = config.agent;
    this.procRoot = a.procRoot;
    const clog = log.child({ container: target.name });
    const feed = deps.publisher.feed(target.name);
    this.feed = feed;
    const env = { ...envFor(a, target.cgroup), container: new InitPidFinder(a.procRoot, target.initPid, monoNs) };
    this.sampler = new Sampler(env, createCollectors(env, { processes: { files: deps.files } }), {
      containerName: target.name,
      version: VERSION,
      log: clog,
      hostname: target.hostname,
      gpu: { collect: () => deps.gpu(target.id) },
      publishStatus: () => feed.status(),
      onEvent: (level, message) => {
        feed.event(level, message);
      },
    });
    feed.event('info', `system-monitor ${VERSION} host agent (pid ${process.pid}) monitoring this container (cgroup ${target.cgroup.mode}, every ${a.intervalMs / 1000} s)`);
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  /** This tick's sample, to be written with every other container's; null once stopped. */
  async tick(): Promise<Payload | null> {
    if (this.stopped) return null;
    const sample = await this.sampler.sample();
    // Stopped while sampling: the final sample is written, this one is not.
    if (this.isStopped()) return null;
    this.last = sample;
    return sample;
  }

  /**
   * The container stopped: its last sample again, as `exited`, now, with the
   * short expiry the sidecar's final write has. Its cgroup is usually gone by
   * the time the engine says so, so nothing fresh could be read.
   */
  async stop(reason: string, exitTtlSeconds: number): Promise<void> {
    this.stopped = true;
    const base = this.last ?? (await this.sampler.sample());
    const final: Payload = { ...base, status: 'exited', timestamp: new Date().toISOString(), seq: base.seq + 1 };
    this.feed.event('info', `container stopped: ${reason}`);
    try {
      await this.deps.publisher.publishFinal(this.feed, final, exitTtlSeconds);
    } finally {
      this.deps.publisher.drop(this.feed);
      this.release(base);
    }
  }

  /** Closes the descriptors kept for the container's files: its cgroup directories and its processes' /proc entries. */
  private release(last: Payload): void {
    this.sampler.close();
    const loc = this.target.cgroup;
    for (const h of [...Object.values(loc.controllers), ...(loc.unified ? [loc.unified] : [])]) closeKeptUnder(h.dir);
    const pids = new Set([...(last.processes?.top.map((p) => p.pid) ?? []), ...(this.target.initPid === null ? [] : [this.target.initPid])]);
    for (const pid of pids) closeKeptUnder(join(this.procRoot, String(pid)));
  }
}

/** Kept descriptors for kernel files: up to 16384, at most half the soft RLIMIT_NOFILE. */
export function keptFileLimit(procRoot: string): number {
  let soft = 1024;
  try {
    const line = readTextFresh(join(procRoot, 'self/limits')).split('\n').find((l) => l.startsWith('Max open files'));
    const v = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    soft = v === 'unlimited' ? 1 << 20 : Number(v);
  } catch {
    // Not readable: assume the common default.
  }
  return Math.max(64, Math.min(16_384, Math.floor((Number.isFinite(soft) ? soft : 1024) / 2)));
}

function emptyGpu(ms = 0): GpuCollection {
  return { gpus: [], unavailable: {}, error: null, ms };
}

/**
 * `system-monitor host`: every container on this host, each published under
 * its own key exactly as its sidecar would publish it (the same collectors,
 * pointed at the container's cgroup and, through the host's /proc, at its
 * processes, network namespace and root filesystem). Containers come from
 * the Docker engine or, without its socket, from a cgroup directory.
 */
export async function runHostAgent(config: HostConfig, valkey: ValkeyConfig, log: Logger): Promise<number> {
  const a = config.agent;
  const d = config.discovery;
  let discovery: Discovery;
  try {
    discovery =
      d.kind === 'docker'
        ? new DockerDiscovery({ socketPath: d.socketPath, procRoot: a.procRoot, cgroupRoot: a.cgroupRoot, log })
        : new CgroupDiscovery({ parent: d.parent, procRoot: a.procRoot, cgroupRoot: a.cgroupRoot, dockerRoot: d.dockerRoot, log });
  } catch (err) {
    log.fatal({ err }, 'cannot set up container discovery');
    return 1;
  }
  // Every container's cgroup and /proc files stay open between ticks, within
  // half of what this process may open.
  setKeptFileLimit(keptFileLimit(a.procRoot));
  setJoinMemoLimit(HOST_JOIN_MEMO);
  // One reader for every container, so the cap on kept descriptors is the agent's.
  const native = await nativePidStatsOrNull(log);
  const files = new PidFileReader(isProcfs(a.procRoot), fdCountMethod(a.procRoot), Math.max(MAX_KEPT_PROCESSES, 1024), native);
  // NVML reports host PIDs: they are mapped to containers here, not by the runner.
  const gpu: GpuRunner = createGpuSource({ ...a, hostProc: null }, log, {}, { deferWhenAbsent: true });
  const owners = new ProcessOwners(a.procRoot);
  const monitored = new Map<string, Monitored>();
  let gpuThisTick: Promise<Map<string, GpuCollection>> | null = null;
  const gpuFor = async (id: string): Promise<GpuCollection> => {
    gpuThisTick ??= gpu.collect().then((c) => {
      const list = [...monitored.values()].map((m) => m.target);
      owners.set(list);
      return attributeGpus(c, list, (pid) => owners.ownerOf(pid));
    });
    return (await gpuThisTick).get(id) ?? emptyGpu();
  };

  // One connection for every container, one pipeline per tick (host-publisher.ts).
  const publisher = new HostPublisher({
    valkey,
    ttlSeconds: a.ttlSeconds,
    historyLength: a.historyLength,
    logTtlSeconds: a.logTtlSeconds,
    commandTimeoutMs: Math.min(1000, Math.max(200, a.intervalMs / 2)),
    log,
  });
  publisher.start();
  const deps = { config, publisher, log, files, gpu: gpuFor };
  const stopping: Promise<void>[] = [];
  const started = await new Promise<boolean>((resolve) => {
    discovery
      .start({
        added: (t) => {
          if (monitored.has(t.id)) return;
          log.info({ container: t.name, id: t.id.slice(0, 12), cgroup: t.cgroup.mode }, 'monitoring container');
          monitored.set(t.id, new Monitored(t, deps));
        },
        removed: (id, reason) => {
          const m = monitored.get(id);
          if (m === undefined) return;
          monitored.delete(id);
          log.info({ container: m.target.name, reason }, 'container stopped; writing its final sample');
          const p = m.stop(reason, a.exitTtlSeconds).catch((err: unknown) => {
            log.warn({ err, container: m.target.name }, 'final sample not written');
          });
          stopping.push(p);
          void p.finally(() => stopping.splice(stopping.indexOf(p), 1));
        },
      })
      .then(
        () => {
          resolve(true);
        },
        (err: unknown) => {
          log.fatal({ err, source: discovery.describe }, d.kind === 'docker' ? 'cannot read the Docker engine; mount its socket read-only, or use --cgroup-parent for cgroup-only mode' : 'cannot list the container cgroups');
          resolve(false);
        },
      );
  });
  if (!started) {
    await Promise.all([gpu.close(), publisher.close(200)]);
    return 1;
  }
  log.info(
    { source: discovery.describe, containers: monitored.size, interval_s: a.intervalMs / 1000, valkey: describeValkey(valkey), process_reader: native === null ? 'javascript' : native.path },
    'system-monitor host agent starting',
  );

  let ticks = 0;
  const ticker = new DeadlineTicker({
    intervalMs: a.intervalMs,
    clock: monoNs,
    onTick: async () => {
      // As the sidecar does: the pages only start-up touched go back once it is behind.
      if (ticks === RELEASE_PAGES_AFTER_TICKS) await releaseStartupPages(log);
      if (ticks === RELEASE_PAGES_AFTER_TICKS + 3) await dropReleaseCache();
      await discovery.refresh().catch((err: unknown) => {
        log.warn({ err }, 'cannot refresh the container list');
      });
      gpuThisTick = null;
      // Collection is synchronous file reads, so the containers are sampled in
      // turn even though they start together; then one write for all of them.
      const batch: FeedSample[] = [];
      await Promise.all(
        [...monitored.values()].map(async (m) => {
          try {
            const payload = await m.tick();
            if (payload !== null) batch.push({ feed: m.feed, payload });
          } catch (err) {
            log.warn({ err, container: m.target.name }, 'sample failed');
          }
        }),
      );
      await publisher.publishAll(batch).catch((err: unknown) => {
        log.warn({ err }, 'publish failed');
      });
      ticks++;
      if (ticks === 1) gpu.start();
    },
    onSkip: (n) => {
      for (const m of monitored.values()) m.sampler.skippedTicks += n;
      log.warn({ skipped: n }, 'tick skipped: the previous one ran past its deadline');
    },
  });
  ticker.start();

  return new Promise<number>((resolve) => {
    let stopped = false;
    const onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
      if (stopped) process.exit(130);
      stopped = true;
      log.info({ signal }, 'host agent stopping; the containers go on, their keys expire');
      const hard = setTimeout(() => process.exit(0), SHUTDOWN_BUDGET_MS + 150);
      hard.unref();
      void (async () => {
        discovery.close();
        await Promise.race([ticker.stop(), delay(300)]);
        await Promise.race([Promise.all(stopping), delay(500)]);
        await Promise.all([publisher.close(200), Promise.race([gpu.close(), delay(200)])]);
        clearTimeout(hard);
        resolve(0);
      })();
    };
    onStopSignals(onSignal);
  });
}
