import type { ContainerStatus } from '../../../shared/src/api.js';
import type { Payload } from '../../../shared/src/payload.js';
import { digestOf, type SampleDigest } from './digest.js';
import { TextSlot } from './text-slot.js';

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
  /** The latest sample in full, parsed from its JSON on every call (tens of µs): for answers about one container. */
  sample(): Payload | null;
  /** The latest sample's JSON: validated, one line, nothing unknown in it. */
  sampleJson(): string | null;
}

/** The fleet's side of a ContainerView: only the fleet changes it. */
export class FleetEntry implements ContainerView {
  status: ContainerStatus = 'offline';
  digest: SampleDigest | null = null;
  exited_at_ms: number | null = null;
  private readonly json = new TextSlot();

  constructor(
    readonly name: string,
    public last_seen_ms: number,
  ) {}

  sample(): Payload | null {
    const text = this.json.text();
    // The text was produced by serialising a sample the payload schema had accepted (ingest thread), so it parses to that type.
    return text === null ? null : (JSON.parse(text) as Payload);
  }

  sampleJson(): string | null {
    return this.json.text();
  }

  /** Holds `p` as the latest sample; `json` is its serialised form. */
  hold(p: Payload, json: string): void {
    this.digest = digestOf(p);
    this.json.set(json);
  }

  /** The sample's key is gone: nothing is held. */
  drop(): void {
    this.digest = null;
    this.json.clear();
  }
}
