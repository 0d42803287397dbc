import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { locateCgroup } from '../cgroup/locate.js';
import { processHierarchy } from '../container-pids.js';
import { idFromCgroupDir } from './cgroup-paths.js';
import { decideName } from './labels.js';
import type { ContainerTarget, Discovery, DiscoveryHandlers } from './target.js';

/** The few fields of Docker's `containers/<id>/config.v2.json` used to name a container. */
const dockerConfigSchema = z.object({
  Name: z.string(),
  Config: z
    .object({
      Hostname: z.string().nullish(),
      Labels: z.record(z.string(), z.string()).nullish(),
    })
    .nullish(),
});

export interface CgroupDiscoveryOptions {
  /** The parent's path inside every hierarchy (`/docker`, `/system.slice`). */
  parent: string;
  procRoot: string;
  cgroupRoot: string;
  /** Docker's data root, to name containers from `containers/<id>/config.v2.json` when readable; null: directory names. */
  dockerRoot: string | null;
  log: Logger;
}

/** What a directory's name and Docker's config file (if any) say about it. */
export function describeChild(dir: string, dockerRoot: string | null): { name: string; hostname: string; labels: Record<string, string> } {
  const id = idFromCgroupDir(dir);
  if (id !== null && dockerRoot !== null) {
    try {
      const cfg = dockerConfigSchema.parse(JSON.parse(readFileSync(join(dockerRoot, 'containers', id, 'config.v2.json'), 'utf8')));
      const name = cfg.Name.replace(/^\//, '');
      return { name, hostname: cfg.Config?.Hostname ?? name, labels: cfg.Config?.Labels ?? {} };
    } catch {
      // Not readable or not Docker's: the directory's name stands.
    }
  }
  const name = id ?? dir;
  return { name, hostname: name.slice(0, 12), labels: {} };
}

/**
 * Cgroup-only discovery, for hosts where the agent must not hold the Docker
 * socket: every child directory of one cgroup is a container. It is checked
 * again before every tick, so a new one is picked up within an interval and
 * one that vanished gets its final sample then.
 */
export class CgroupDiscovery implements Discovery {
  readonly describe: string;
  private handlers: DiscoveryHandlers | null = null;
  private readonly known = new Set<string>();
  private readonly listDir: string;

  constructor(private readonly opts: CgroupDiscoveryOptions) {
    const loc = locateCgroup({ procRoot: opts.procRoot, cgroupRoot: opts.cgroupRoot, cgroupPath: opts.parent });
    const h = processHierarchy(loc);
    if (h === null) throw new Error(`no cgroup hierarchy found under ${opts.cgroupRoot} to list ${opts.parent} in`);
    this.listDir = h.dir;
    this.describe = `cgroup ${this.listDir}`;
  }

  async start(handlers: DiscoveryHandlers): Promise<void> {
    this.handlers = handlers;
    // The parent must exist at start: a wrong path is a configuration error, not an empty host.
    readdirSync(this.listDir);
    await this.refresh();
  }

  refresh(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.listDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (err) {
      this.opts.log.warn({ err, dir: this.listDir }, 'cannot list the container cgroups');
      return Promise.resolve();
    }
    const present = new Set(names);
    for (const id of [...this.known]) {
      if (!present.has(id)) {
        this.known.delete(id);
        this.handlers?.removed(id, `its cgroup ${posix.join(this.opts.parent, id)} is gone`);
      }
    }
    for (const dir of names) {
      if (this.known.has(dir)) continue;
      this.known.add(dir);
      const d = describeChild(dir, this.opts.dockerRoot);
      const decision = decideName(d.name, d.labels);
      if (!decision.monitor) {
        this.opts.log.info({ dir, reason: decision.reason }, 'container not monitored');
        continue;
      }
      const cgroup = locateCgroup({ procRoot: this.opts.procRoot, cgroupRoot: this.opts.cgroupRoot, cgroupPath: posix.join(this.opts.parent, dir) });
      const target: ContainerTarget = { id: dir, name: decision.name, hostname: d.hostname, cgroup: { ...cgroup, source: 'host-namespace' }, initPid: null, gpus: { all: false, ids: [] } };
      this.handlers?.added(target);
    }
    return Promise.resolve();
  }

  close(): void {
    this.handlers = null;
  }
}
