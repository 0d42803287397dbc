import type { ContainerStatus } from '../../../shared/src/api.js';
import type { Payload } from '../../../shared/src/payload.js';
import { FleetEntry, type ContainerView } from '../../src/fleet/entry.js';
import { packSample } from '../../src/ingest/pack.js';

export interface ViewSpec {
  name: string;
  status: ContainerStatus;
  last_seen_ms: number;
  sample: Payload | null;
  exited_at_ms: number | null;
}

/** A fleet entry as the fleet would hold it after taking `sample` (kept as JSON, with its digest). */
export function viewOf(spec: ViewSpec): ContainerView {
  const e = new FleetEntry(spec.name, spec.last_seen_ms);
  e.status = spec.status;
  e.exited_at_ms = spec.exited_at_ms;
  if (spec.sample !== null) e.hold(spec.sample, packSample(JSON.stringify(spec.sample)));
  return e;
}
