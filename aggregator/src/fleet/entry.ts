import type { ContainerStatus } from '../../../shared/src/api.js';
import type { Payload } from '../../../shared/src/payload.js';
import { unpackSample } from '../ingest/pack.js';
import { BytesSlot } from './bytes-slot.js';
import { digestOf, type SampleDigest } from './digest.js';

/**
 * One container as the fleet holds it. Read-only for everyone else: list()
 * and get() hand out the fleet's own entries (no per-call copy of 10,000
 * objects), which change in place as samples and statuses arrive.
 */
export interface ContainerView {
  readonly name: string;
  readonly status: ContainerStatus;
  /** Registry score: when the agent last wrote, unix ms. */
  readonly last_seen_ms: number;
  /** The latest sample's headline figures (status, list rows, totals, SiriusScan's table); null while none is held. */
  readonly digest: SampleDigest | null;
  /** When the container stopped cleanly (its final sample's time), kept after that sample's key expires; null otherwise. */
  readonly exited_at_ms: number | null;
  /** The latest sample in full, unpacked and parsed on every call (tens of µs): for answers about one container. */
  sample(): Payload | null;
  /** The latest sample's JSON: validated, one line, nothing unknown in it (unpacked on every call). */
  sampleJson(): string | null;
}

/** The fleet's side of a ContainerView: only the fleet changes it. */
export class FleetEntry implements ContainerView {
  status: ContainerStatus = 'offline';
  digest: SampleDigest | null = null;
  exited_at_ms: number | null = null;
  /** The latest sample's JSON, packed (`ingest/pack.ts`). */
  private readonly packed = new BytesSlot();

  constructor(
    readonly name: string,
    public last_seen_ms: number,
  ) {}

  sample(): Payload | null {
    const text = this.sampleJson();
    // The text was produced by serialising a sample the payload schema had accepted (ingest thread), so it parses to that type.
    return text === null ? null : (JSON.parse(text) as Payload);
  }

  sampleJson(): string | null {
    return this.packed.read(unpackSample);
  }

  /** Holds `p` as the latest sample; `packed` is its JSON as `packSample` packed it. */
  hold(p: Payload, packed: Uint8Array): void {
    this.digest = digestOf(p);
    this.packed.set(packed);
  }

  /** The sample's key is gone: nothing is held. */
  drop(): void {
    this.digest = null;
    this.packed.clear();
  }
}
