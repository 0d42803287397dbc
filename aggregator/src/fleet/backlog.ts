import type { IngestEvent } from '../ingest/protocol.js';

/** Bytes a queued event holds: its samples' JSON text and packed copies (other events are small). */
function eventBytes(e: IngestEvent): number {
  if (e.type !== 'samples' && e.type !== 'poll-values') return 0;
  let n = 0;
  for (const raw of e.raws) n += raw?.length ?? 0;
  for (const p of e.packed) n += p?.byteLength ?? 0;
  return n;
}

/**
 * The ingest thread's events waiting for the main thread, in order, with a
 * byte bound: when the main thread falls behind for long (an overloaded
 * machine), the oldest batches of pub/sub samples are dropped and counted
 * rather than kept without limit. Samples are superseded by the next ones of
 * the same containers (every interval, and the re-sync reads the latest), so
 * dropping the oldest loses intermediate values, never the current state.
 * Re-sync and registry events are always kept (a re-sync's values count
 * towards the bound, so live samples give way to them).
 */
export class IngestBacklog {
  private readonly events: IngestEvent[] = [];
  private bytes = 0;
  /** Samples dropped so far because the backlog was over its bound. */
  droppedSamples = 0;

  constructor(private readonly maxBytes: number) {}

  get length(): number {
    return this.events.length;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  push(e: IngestEvent): void {
    this.events.push(e);
    this.bytes += eventBytes(e);
    // The newest event is kept even when it alone is over the bound.
    for (let i = 0; this.bytes > this.maxBytes && i < this.events.length - 1; ) {
      const old = this.events[i];
      if (old?.type !== 'samples') {
        i++;
        continue;
      }
      this.events.splice(i, 1);
      this.bytes -= eventBytes(old);
      this.droppedSamples += old.raws.length;
    }
  }

  shift(): IngestEvent | undefined {
    const e = this.events.shift();
    if (e !== undefined) this.bytes -= eventBytes(e);
    return e;
  }
}
