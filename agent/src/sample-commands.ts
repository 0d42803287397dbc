import { historyFields } from '../../shared/src/history.js';
import { CONTAINERS_KEY, LOG_INDEX_KEY, METRICS_CHANNEL, historyKey, logKey, metricsKey } from '../../shared/src/keys.js';
import type { Payload } from '../../shared/src/payload.js';
import { siriusLevel } from '../../shared/src/sirius.js';
import type { BatchCommand } from '../../shared/src/valkey-batch.js';

/** A Sirius log entry waiting for the next write, as the sidecar's Publisher queues it. */
export interface PendingLog {
  level: 'info' | 'warn' | 'error';
  message: string;
  unixMs: number;
  /** Nanoseconds for the key suffix; unique even for entries within one ms. */
  unixNanos: bigint;
}

export interface SampleWrite {
  name: string;
  payload: Payload;
  /** `SET .. EX` of the metrics key (the final sample's is short). */
  ttlSeconds: number;
  /** Adds the history entry (not for the final sample). */
  history: boolean;
  historyLength: number;
  logTtlSeconds: number;
  /** `spublish` on a cluster (sharded channel), else `publish`. */
  publishCommand: 'publish' | 'spublish';
  nowMs: number;
  events: readonly PendingLog[];
}

/**
 * The commands one container's sample is written with, in the order and
 * with the arguments the sidecar's Publisher (agent/src/publish.ts) sends
 * them: the metrics key with its ttl first (its reply decides whether the
 * sample counts as written), the registry, the history entry, the pub/sub
 * message (the same JSON), then the pending log entries, their index, and
 * the index trimmed to the log ttl. agent/test/host-publisher.test.ts
 * compares what both write on a real server.
 */
export function sampleCommands(w: SampleWrite): BatchCommand[] {
  const json = JSON.stringify(w.payload);
  const cmds: BatchCommand[] = [
    ['set', metricsKey(w.name), json, 'EX', w.ttlSeconds],
    ['zadd', CONTAINERS_KEY, w.nowMs, w.name],
  ];
  if (w.history) cmds.push(['xadd', historyKey(w.name), 'MAXLEN', '~', w.historyLength, '*', ...historyFields(w.payload, w.nowMs)]);
  cmds.push([w.publishCommand, METRICS_CHANNEL, json]);
  if (w.events.length > 0) {
    for (const e of w.events) {
      const key = logKey(w.name, e.unixNanos);
      const entry = { container_name: w.name, timestamp: new Date(e.unixMs).toISOString(), level: siriusLevel(e.level), message: e.message };
      cmds.push(['set', key, JSON.stringify(entry), 'EX', w.logTtlSeconds], ['zadd', LOG_INDEX_KEY, e.unixMs, key]);
    }
    cmds.push(['zremrangebyscore', LOG_INDEX_KEY, '-inf', w.nowMs - w.logTtlSeconds * 1000]);
  }
  return cmds;
}
