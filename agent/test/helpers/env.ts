import { join } from 'node:path';
import { controllerNames, type CgroupLocation, type Hierarchy } from '../../src/cgroup/location.js';
import type { AgentEnv } from '../../src/collectors/types.js';

const SEC = 1_000_000_000n;

/** A fake monotonic clock the test moves by hand. */
export class FakeClock {
  now = 1_000n * SEC;
  advance(ns: bigint): void {
    this.now += ns;
  }
  readonly read = (): bigint => this.now;
}

/** A pure cgroup v2 location: every controller reads `mount/rel`. */
export function v2Location(
  mount: string,
  rel: string,
  opts: { scope?: 'container' | 'host'; v2Controllers?: string[] } = {},
): CgroupLocation {
  const unified: Hierarchy = { version: 2, mount, dir: rel === '' ? mount : join(mount, rel) };
  return {
    mode: 'v2',
    scope: opts.scope ?? 'container',
    source: 'override',
    unified,
    controllers: Object.fromEntries(controllerNames.map((c) => [c, unified])),
    v2Controllers: new Set(opts.v2Controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'pids']),
    notes: [],
  };
}

/** No cgroup at all (collectors that read only /proc). */
export const NO_CGROUP: CgroupLocation = {
  mode: 'none',
  scope: 'container',
  source: 'none',
  unified: null,
  controllers: {},
  v2Controllers: null,
  notes: [],
};

/** An AgentEnv for collector tests: 5 s interval, half-interval minimum Δt, `/` for disk. */
export function testEnv(over: Partial<AgentEnv> & Pick<AgentEnv, 'clock'>): AgentEnv {
  return {
    procRoot: '/nonexistent-proc',
    sysRoot: '/nonexistent-sys',
    cgroup: NO_CGROUP,
    intervalMs: 5000,
    minRateDeltaNs: 2_500_000_000n,
    diskPaths: ['/'],
    ...over,
  };
}
