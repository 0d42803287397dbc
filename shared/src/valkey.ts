import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { ConfigError, parseSetting } from './config.js';

/**
 * Valkey connection settings from the environment. Accepts `VALKEY_URL`
 * (`redis://` / `rediss://` with password and db) or the SiriusScan names
 * `VALKEY_HOST` / `VALKEY_PORT` plus `VALKEY_PASSWORD`, `VALKEY_DB`,
 * `VALKEY_TLS`; Sentinel (`VALKEY_SENTINELS`) or Cluster
 * (`VALKEY_CLUSTER_NODES`) with the same credentials and TLS settings.
 */
export interface ValkeyConfig {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  db: number;
  tls: boolean;
  /** Sentinel mode: the sentinels to ask and the master group name (`VALKEY_SENTINELS`, `VALKEY_SENTINEL_NAME`). */
  sentinel: { nodes: { host: string; port: number }[]; name: string; password: string | undefined } | null;
  /** Cluster mode: seed nodes (`VALKEY_CLUSTER_NODES`); the client learns the rest from them. */
  cluster: { nodes: { host: string; port: number }[] } | null;
  /** Where the settings came from, for messages (`VALKEY_URL` or `VALKEY_HOST:VALKEY_PORT`). */
  source: string;
  /** The setting that holds the password, for error messages. */
  passwordSetting: string;
}

const port = z.coerce.number().int('must be a whole number').min(1, 'must be 1–65535').max(65535, 'must be 1–65535');
const db = z.coerce.number().int('must be a whole number').min(0, 'must be 0 or more').max(15, 'must be at most 15');
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no'], { error: 'must be true or false' }))
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const hostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^\s:,[\]]+):\d{1,5}$/, 'must be host:port')
  .transform((v) => {
    const i = v.lastIndexOf(':');
    return { host: v.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(v.slice(i + 1)) };
  })
  .pipe(z.object({ host: z.string(), port: z.number().int().min(1, 'port must be 1–65535').max(65535, 'port must be 1–65535') }));

const hostPortList = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p !== ''))
  .pipe(z.array(hostPort).min(1, 'must list at least one host:port'));

export function valkeyConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ValkeyConfig {
  const clusterNodes = env.VALKEY_CLUSTER_NODES?.trim();
  if (clusterNodes) return clusterConfigFromEnv(env, clusterNodes);
  const base = baseConfigFromEnv(env);
  const sentinels = env.VALKEY_SENTINELS?.trim();
  const name = env.VALKEY_SENTINEL_NAME?.trim();
  if (!sentinels && !name) return base;
  if (!sentinels) throw new ConfigError('VALKEY_SENTINEL_NAME is set but VALKEY_SENTINELS is not (expected host:port[,host:port...])');
  if (!name) throw new ConfigError('VALKEY_SENTINELS is set but VALKEY_SENTINEL_NAME is not (the master group name, e.g. mymaster)');
  const nodes = parseSetting(hostPortList, sentinels, 'VALKEY_SENTINELS');
  return {
    ...base,
    sentinel: { nodes, name, password: env.VALKEY_SENTINEL_PASSWORD || undefined },
    source: `VALKEY_SENTINELS (${name})`,
  };
}

/**
 * Cluster mode: the seed nodes, plus the single-node credentials and TLS
 * settings (every node of a cluster shares them). Settings that name one
 * server or a database are refused rather than ignored: a cluster has only
 * database 0, and a VALKEY_URL or Sentinel beside it leaves unclear which
 * store was meant.
 */
function clusterConfigFromEnv(env: NodeJS.ProcessEnv, rawNodes: string): ValkeyConfig {
  const nodes = parseSetting(hostPortList, rawNodes, 'VALKEY_CLUSTER_NODES');
  if (env.VALKEY_URL?.trim()) {
    throw new ConfigError('VALKEY_CLUSTER_NODES and VALKEY_URL are both set: a cluster is reached through its seed nodes; unset VALKEY_URL and give the password with VALKEY_PASSWORD (TLS with VALKEY_TLS)');
  }
  if (env.VALKEY_SENTINELS?.trim() || env.VALKEY_SENTINEL_NAME?.trim()) {
    throw new ConfigError('VALKEY_CLUSTER_NODES and VALKEY_SENTINELS/VALKEY_SENTINEL_NAME are both set: use one of Cluster or Sentinel');
  }
  const base = baseConfigFromEnv(env);
  if (base.db !== 0) throw new ConfigError(`VALKEY_DB: a cluster has only database 0 (got ${base.db}); unset VALKEY_DB`);
  const first = nodes[0] ?? { host: base.host, port: base.port };
  return { ...base, host: first.host, port: first.port, cluster: { nodes }, source: 'VALKEY_CLUSTER_NODES' };
}

function baseConfigFromEnv(env: NodeJS.ProcessEnv): ValkeyConfig {
  const url = env.VALKEY_URL?.trim();
  if (url) return fromUrl(url);
  const host = env.VALKEY_HOST?.trim() || 'localhost';
  return {
    host,
    port: env.VALKEY_PORT ? parseSetting(port, env.VALKEY_PORT, 'VALKEY_PORT') : 6379,
    username: env.VALKEY_USERNAME || undefined,
    password: env.VALKEY_PASSWORD || undefined,
    db: env.VALKEY_DB ? parseSetting(db, env.VALKEY_DB, 'VALKEY_DB') : 0,
    tls: env.VALKEY_TLS ? parseSetting(bool, env.VALKEY_TLS, 'VALKEY_TLS') : false,
    sentinel: null,
    cluster: null,
    source: 'VALKEY_HOST/VALKEY_PORT',
    passwordSetting: 'VALKEY_PASSWORD',
  };
}

function fromUrl(raw: string): ValkeyConfig {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`VALKEY_URL: not a URL (expected redis://[user:password@]host[:port][/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:' && u.protocol !== 'valkey:' && u.protocol !== 'valkeys:') {
    throw new ConfigError(`VALKEY_URL: scheme must be redis:// or rediss:// (got ${u.protocol}//)`);
  }
  if (u.hostname === '') throw new ConfigError('VALKEY_URL: missing host');
  const dbPath = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? parseSetting(port, u.port, 'VALKEY_URL port') : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: dbPath ? parseSetting(db, dbPath, 'VALKEY_URL database') : 0,
    tls: u.protocol === 'rediss:' || u.protocol === 'valkeys:',
    sentinel: null,
    cluster: null,
    source: 'VALKEY_URL',
    passwordSetting: 'the password in VALKEY_URL',
  };
}

/** Where it points, without the password. */
export function describeValkey(cfg: ValkeyConfig): string {
  if (cfg.cluster !== null) return `cluster ${cfg.tls ? 'rediss' : 'redis'}://${cfg.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (cfg.sentinel !== null) {
    return `sentinel ${cfg.sentinel.name}@${cfg.sentinel.nodes.map((n) => `${n.host}:${n.port}`).join(',')}/${cfg.db}`;
  }
  return `${cfg.tls ? 'rediss' : 'redis'}://${cfg.host}:${cfg.port}/${cfg.db}`;
}

/**
 * ioredis sends `CLIENT SETINFO` (library name and version) on every
 * connection unless told not to. Servers since Redis 7.2 and Valkey know the
 * command, so the least-privilege users (acl.ts), which do not grant it, had
 * it refused twice per connection, each refusal an ACL LOG entry (found
 * running the suite on Valkey 8.0). It only labels `CLIENT LIST`; not sent.
 */
const NO_CLIENT_INFO = { disableClientInfo: true } as const;

/** ioredis options for the config; callers add their own retry and queue settings. */
export function ioredisOptions(cfg: ValkeyConfig): RedisOptions {
  if (cfg.sentinel !== null) {
    return {
      ...NO_CLIENT_INFO,
      sentinels: cfg.sentinel.nodes,
      name: cfg.sentinel.name,
      sentinelPassword: cfg.sentinel.password,
      username: cfg.username,
      password: cfg.password,
      db: cfg.db,
      ...(cfg.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    };
  }
  return {
    ...NO_CLIENT_INFO,
    host: cfg.host,
    port: cfg.port,
    username: cfg.username,
    password: cfg.password,
    db: cfg.db,
    ...(cfg.tls ? { tls: {} } : {}),
  };
}

/** A connection to one server (directly or through Sentinel) or to a cluster. */
export type ValkeyClient = Redis | Cluster;

/** What only a cluster client takes. */
export interface ClusterExtras {
  /** One subscriber connection per master, for SSUBSCRIBE (sharded pub/sub). */
  shardedSubscribers?: boolean;
  /**
   * Redirections and retries (100 ms apart while a node is down) before a
   * command fails; ioredis' default 16 keeps a command alive ~1.6 s into a
   * failover, where it may land long after its caller gave up on it.
   */
  maxRedirections?: number;
}

/**
 * The client for the config: a `Redis` for one server or Sentinel (the
 * caller's options unchanged), a `Cluster` for VALKEY_CLUSTER_NODES. For a
 * cluster the caller's per-connection options go to every node's
 * connection, its `retryStrategy` becomes the cluster's reconnect strategy,
 * and commands issued in the same event-loop turn are sent as one pipeline
 * per node (auto-pipelining): that is how `execBatch` and `getMany`
 * (valkey-batch.ts) split work that spans slots.
 */
export function createValkeyClient(cfg: ValkeyConfig, opts: RedisOptions, extras: ClusterExtras = {}): ValkeyClient {
  if (cfg.cluster === null) return new Redis({ ...ioredisOptions(cfg), ...opts });
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = opts;
  delete perNode.sentinelRetryStrategy;
  const options: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    enableAutoPipelining: true,
    clusterRetryStrategy: typeof retryStrategy === 'function' ? (times) => retryStrategy(times) : undefined,
    shardedSubscribers: extras.shardedSubscribers ?? false,
    ...(extras.maxRedirections === undefined ? {} : { maxRedirections: extras.maxRedirections }),
    redisOptions: { ...NO_CLIENT_INFO, ...perNode, username: cfg.username, password: cfg.password, ...(cfg.tls ? { tls: {} } : {}) },
  };
  return new Cluster(cfg.cluster.nodes, options);
}

/** Whether the client talks to a cluster (commands must stay within one slot each). */
export function isCluster(client: ValkeyClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * One PING with a deadline, for `doctor` and readiness checks; with `getKey`
 * also reads that key on the same connection. Never throws.
 */
export async function pingValkey(
  cfg: ValkeyConfig,
  timeoutMs: number,
  getKey?: string,
): Promise<{ ok: true; ms: number; value: string | null } | { ok: false; error: string }> {
  const client = createValkeyClient(cfg, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  const t0 = performance.now();
  try {
    await client.connect();
    await client.ping();
    const ms = performance.now() - t0;
    const value = getKey === undefined ? null : await client.get(getKey);
    return { ok: true, ms, value };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    client.disconnect();
  }
}
