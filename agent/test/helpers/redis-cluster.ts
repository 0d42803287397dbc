import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisServer, freePort, portIsFree } from './redis-server.js';

const run = promisify(execFile);

/**
 * A port whose cluster-bus port (port + 10000) is also free and valid, and
 * neither of them one another node of this cluster already uses (as its
 * port or its bus port): a node whose bus port is taken exits at start.
 */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = await freePort();
    const bus = p + 10_000;
    if (bus > 65_535 || taken.has(p) || taken.has(bus)) continue;
    if (!(await portIsFree(bus))) continue;
    taken.add(p);
    taken.add(bus);
    return p;
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node');
}

export interface ClusterNodeInfo {
  port: number;
  id: string;
  role: 'master' | 'slave';
  /** For a replica, the id of its master. */
  masterId: string | null;
  /** Slot ranges [from, to] a master serves. */
  slots: [number, number][];
  failed: boolean;
}

/**
 * A real Redis Cluster on 127.0.0.1 for one test file: `masters` masters and
 * one replica each, made by `redis-cli --cluster create`, with a short node
 * timeout so a failover takes a second or two. Nodes may be killed
 * (SIGKILL) and started again; each keeps its nodes.conf, so a restarted
 * node rejoins the cluster (as a replica of whoever took its slots).
 */
export class RedisCluster {
  readonly nodes: RedisServer[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'sm-cluster-'));

  constructor(
    readonly masters = 3,
    readonly nodeTimeoutMs = 1000,
  ) {}

  get ports(): number[] {
    return this.nodes.map((n) => n.port);
  }

  /** `VALKEY_CLUSTER_NODES` for the seed nodes (all of them). */
  get seeds(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  async start(): Promise<void> {
    const taken = new Set<number>();
    for (let i = 0; i < this.masters * 2; i++) {
      const port = await freeClusterPort(taken);
      this.nodes.push(
        new RedisServer(port, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(this.dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', String(this.nodeTimeoutMs),
          '--dir', this.dir,
        ]),
      );
    }
    await Promise.all(this.nodes.map((n) => n.start()));
    try {
      await run('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
    } catch (err) {
      throw new Error(`redis-cli --cluster create failed (install Debian's redis-tools): ${err instanceof Error ? err.message : String(err)}`);
    }
    await this.waitHealthy(30_000);
    await this.waitReplicasLinked(30_000);
  }

  /**
   * Until every running replica reports its link to its master up. A replica
   * that has never finished syncing refuses to fail over ("Disconnected from
   * master for longer than allowed"), so a master killed before then is not
   * replaced at all: seen under load, where a master answered a new
   * replica's PSYNC 5 s late.
   */
  async waitReplicasLinked(timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    let last = '';
    while (Date.now() - t0 < timeoutMs) {
      const infos = await Promise.all(this.ports.map((p) => this.command(p, ['info', 'replication']).catch((e: unknown) => String(e))));
      const unlinked = infos.filter((s) => typeof s !== 'string' || (s.includes('role:slave') && !s.includes('master_link_status:up')));
      if (unlinked.length === 0) return;
      last = unlinked.map(String).join(' | ').slice(0, 400);
      await sleep(100);
    }
    throw new Error(`replicas not linked to their masters within ${timeoutMs} ms: ${last}`);
  }

  /** Until every running node says cluster_state:ok and agrees that all 16384 slots are served. */
  async waitHealthy(timeoutMs: number, except: number[] = []): Promise<void> {
    const t0 = Date.now();
    let last = '';
    while (Date.now() - t0 < timeoutMs) {
      const infos = await Promise.all(this.ports.filter((p) => !except.includes(p)).map((p) => this.command(p, ['cluster', 'info']).catch((e: unknown) => String(e))));
      if (infos.every((s) => typeof s === 'string' && s.includes('cluster_state:ok') && s.includes('cluster_slots_ok:16384'))) return;
      last = infos.map(String).join(' | ').slice(0, 400);
      await sleep(100);
    }
    throw new Error(`cluster not healthy within ${timeoutMs} ms: ${last}`);
  }

  /** One command on one node (no redirection), the raw reply. */
  async command(port: number, args: string[]): Promise<unknown> {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 2000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      const [name, ...rest] = args;
      if (name === undefined) throw new Error('no command');
      return await c.call(name, ...rest);
    } finally {
      c.disconnect();
    }
  }

  /** The topology as `port`'s node sees it (CLUSTER NODES). */
  async topology(port: number): Promise<ClusterNodeInfo[]> {
    const text = String(await this.command(port, ['cluster', 'nodes']));
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const f = line.split(' ');
        const flags = f[2] ?? '';
        return {
          port: Number((f[1] ?? '').split('@')[0]?.split(':')[1]),
          id: f[0] ?? '',
          role: flags.includes('master') ? 'master' : 'slave',
          masterId: f[3] === '-' || f[3] === undefined ? null : f[3],
          slots: f.slice(8).filter((s) => /^\d+(-\d+)?$/.test(s)).map((s) => {
            const [a, b] = s.split('-').map(Number);
            return [a ?? 0, b ?? a ?? 0];
          }),
          failed: /fail(?!\?)/.test(flags),
        };
      });
  }

  /** The port of the master serving `key`'s slot, as `askPort`'s node sees it. */
  async masterOf(key: string, askPort: number): Promise<number> {
    const slot = Number(await this.command(askPort, ['cluster', 'keyslot', key]));
    const owner = (await this.topology(askPort)).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (owner === undefined) throw new Error(`no master serves slot ${slot} (key ${key})`);
    return owner.port;
  }

  node(port: number): RedisServer {
    const n = this.nodes.find((x) => x.port === port);
    if (n === undefined) throw new Error(`no cluster node on port ${port}`);
    return n;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
