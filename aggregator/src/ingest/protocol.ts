import type { LevelWithSilent } from 'pino';
import type { ValkeyConfig } from '../../../shared/src/valkey.js';
import type { RejectReason } from './sample.js';

/**
 * Messages between the fleet view (main thread) and its ingest thread.
 * Both ends are this program, built from the same source, so these are
 * plain types rather than zod schemas: everything from outside (each value
 * read from Valkey) is validated with the payload schema on the ingest
 * thread before it is put into a message.
 */

export interface IngestSettings {
  valkey: ValkeyConfig;
  retentionMs: number;
  pollMs: number;
  /** MGET chunk size; each chunk is one message, so the main thread applies a re-sync in small steps. */
  chunk: number;
  logLevel: LevelWithSilent;
  /** Byte cap of one value before parsing; a larger one is refused unread. */
  maxSampleBytes: number;
}

/** Values refused since the last message, by reason. */
export type Rejected = Partial<Record<RejectReason, number>>;

export type IngestEvent =
  /**
   * Valid samples from pub/sub, in arrival order, for containers in the
   * registry: each validated against the payload schema and re-serialised
   * from the validated object; `packed[i]` is `raws[i]` packed (`pack.ts`).
   */
  | { type: 'samples'; raws: string[]; packed: Uint8Array[]; rejected: Rejected }
  /**
   * A re-sync started: the registry (names and last-write scores, unix ms)
   * after pruning; entries with a name outside the container-name rule or a
   * score that is not a time (infinite, far in the future) are left out and
   * counted in `rejected`.
   */
  | { type: 'poll-registry'; names: string[]; scores: number[]; rejected: Rejected }
  /**
   * Values of one MGET chunk that differ from what was last sent for that
   * container: a valid sample's JSON (and packed), or null when the key is gone (expired).
   * A value that is not a valid sample is left out (the container keeps its
   * last good sample), counted in `rejected` and logged on the ingest thread.
   */
  | { type: 'poll-values'; names: string[]; raws: (string | null)[]; packed: (Uint8Array | null)[]; rejected: Rejected }
  /** The re-sync finished: its wall time and the ingest thread's busy time. */
  | { type: 'poll-done'; wallMs: number; busyMs: number }
  | { type: 'poll-failed'; error: string; wallMs: number }
  /** The ingest connection to Valkey came up or went down. */
  | { type: 'valkey'; up: boolean; error: string | null };

export type IngestCommand = { type: 'poll' } | { type: 'stop' };
