/**
 * Every Valkey key and channel name, in one place (what each holds: README,
 * "Publishing"). Agent and aggregator build names only through these helpers, so a
 * rename is one edit and a typo is a compile error.
 *
 * All per-container keys hold exactly one container's data, so no command
 * ever spans two cluster slots.
 */

const PREFIX = 'system';

/** Latest sample, a JSON string written with `SET .. EX ttl` (the SiriusScan key). */
export function metricsKey(container: string): string {
  return `${PREFIX}:metrics:${container}`;
}

/** The container name in a metrics key, or null when the key is not one. */
export function containerFromMetricsKey(key: string): string | null {
  const p = `${PREFIX}:metrics:`;
  return key.startsWith(p) && key.length > p.length ? key.slice(p.length) : null;
}

/** Sorted set: container name → last-seen unix ms. The registry of known containers. */
export const CONTAINERS_KEY = `${PREFIX}:containers`;

/** Stream of compact history entries (`XADD MAXLEN ~ N`), see history.ts. */
export function historyKey(container: string): string {
  return `${PREFIX}:history:${container}`;
}

/** Pub/sub channel carrying every published sample (the same JSON as the metrics key). */
export const METRICS_CHANNEL = `${PREFIX}:metrics`;

/** A SiriusScan log entry: JSON `{container_name, timestamp, level, message}` with a ttl. */
export function logKey(container: string, unixNanos: bigint): string {
  return `${PREFIX}:logs:${container}:${unixNanos}`;
}

/**
 * Sorted set of log keys scored by unix ms, so readers get the newest entries
 * with `ZRANGE .. REV` instead of `KEYS system:logs:*` (which SiriusScan's API
 * used, returning arbitrary rather than newest entries). Entries older than
 * the log ttl are trimmed by the writer.
 */
export const LOG_INDEX_KEY = `${PREFIX}:logindex`;

/**
 * The cluster hash tag of a container's history keys: Valkey Cluster places
 * every key with the same `{…}` part in one slot, so a command or script may
 * touch all of one container's history at once.
 */
export function containerTag(container: string): string {
  return `{${container}}`;
}

/**
 * Rollup stream for one resolution (`1m`, `5m`) and container, written by the
 * aggregator leader: one entry per bucket in the packed format of
 * docs/history-format.md (format 1 and later; the name changed with it).
 */
export function rollupKey(resolution: string, container: string): string {
  return `${PREFIX}:rollup:${containerTag(container)}:${resolution}`;
}

/**
 * Where releases before the packed format kept rollups (one stream entry of
 * named decimal fields per bucket). Read only to move old buckets into
 * `rollupKey` once, then deleted (rollup-migration.ts).
 */
export function legacyRollupKey(resolution: string, container: string): string {
  return `${PREFIX}:rollup:${resolution}:${container}`;
}

/** Hash of alert instance state, so alerts survive aggregator restarts. */
export const ALERTS_STATE_KEY = `${PREFIX}:alerts:state`;

/** Stream of alert transitions. */
export const ALERTS_EVENTS_KEY = `${PREFIX}:alerts:events`;

/** Leader lock among aggregator replicas (`SET NX PX`). */
export const LEADER_KEY = `${PREFIX}:aggregator:leader`;
