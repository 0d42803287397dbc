import type { ContainerRow, FleetSummary } from '../../../shared/src/api.js';
import type { SampleDigest } from '../fleet/digest.js';
import type { ContainerView, Fleet } from '../fleet/fleet.js';
import { fleetTotals } from '../sirius.js';

// How the fleet's entries look in the REST answers (the shapes: shared/src/api.ts).

/** One container in a list: status and the headline figures (the full sample is added by the routes that give it). */
export function containerJson(c: ContainerView): ContainerRow {
  const d = c.digest;
  return {
    name: c.name,
    status: c.status,
    last_seen: new Date(c.last_seen_ms).toISOString(),
    sample_time: d?.timestamp ?? null,
    cpu_percent: d?.cpu_percent ?? null,
    cpu_cores: d?.cores_used ?? null,
    cpu_limit_cores: d?.limit_cores ?? null,
    memory_bytes: d?.memory_usage_bytes ?? null,
    memory_limit_bytes: d?.memory_limit_bytes ?? null,
    memory_percent: d?.memory_percent ?? null,
    gpus: d?.gpu_count ?? 0,
  };
}

/**
 * `[row,row,...]` where each row also has `sample`: the row's JSON with the
 * sample's kept JSON spliced in, so a list of 10,000 full samples parses
 * none of them.
 */
export function rowsWithSamples(list: readonly ContainerView[]): Buffer {
  const parts: string[] = [];
  for (const c of list) {
    const row = JSON.stringify(containerJson(c));
    parts.push(`${row.slice(0, -1)},"sample":${c.sampleJson() ?? 'null'}}`);
  }
  return Buffer.from(`[${parts.join(',')}]`);
}

export function fleetSummary(list: readonly ContainerView[]): FleetSummary {
  const counts = { ok: 0, stale: 0, offline: 0, exited: 0 };
  for (const c of list) counts[c.status] += 1;
  const t = fleetTotals(list);
  return {
    total: list.length,
    by_status: counts,
    cpu: { cores_used: t.cores_used, cores_limit: t.cores_limit, percent: t.cores_limit > 0 ? (100 * t.cores_used) / t.cores_limit : null },
    memory: { used_bytes: t.memory_bytes, limit_bytes: t.memory_limit_bytes, percent: t.memory_limit_bytes > 0 ? (100 * t.memory_bytes) / t.memory_limit_bytes : null },
  };
}

/**
 * The JSON of each list row as bytes, kept until the container's sample,
 * status or last-seen time changes, and, while the list is being read,
 * rebuilt right after a change (one batch per event-loop turn) rather than
 * on the next request: a
 * 10,000-container list is then a copy of cached buffers, with no
 * serialising or UTF-8 encoding while the client waits.
 */
export class RowCache {
  private readonly rows = new Map<string, { digest: SampleDigest | null; status: string; seen: number; buf: Buffer }>();
  private readonly stale = new Set<string>();
  private scheduled = false;
  /** Rows are rebuilt ahead only while someone reads the list (no serialising for nobody). */
  private lastRead = -Infinity;

  constructor(private readonly fleet: Fleet) {
    fleet.onSample((p) => {
      this.touch(p.container_name);
    });
    fleet.onStatus((name) => {
      this.touch(name);
    });
  }

  private touch(name: string): void {
    if (performance.now() - this.lastRead > 60_000) return;
    this.stale.add(name);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const n of this.stale) {
        const c = this.fleet.get(n);
        if (c !== null) this.row(c);
      }
      this.stale.clear();
    });
  }

  private row(c: ContainerView): Buffer {
    const hit = this.rows.get(c.name);
    if (hit?.digest === c.digest && hit.status === c.status && hit.seen === c.last_seen_ms) return hit.buf;
    const buf = Buffer.from(JSON.stringify(containerJson(c)));
    this.rows.set(c.name, { digest: c.digest, status: c.status, seen: c.last_seen_ms, buf });
    return buf;
  }

  /** `[row,row,...]` as one buffer. */
  json(list: readonly ContainerView[]): Buffer {
    this.lastRead = performance.now();
    const parts: Buffer[] = [OPEN_BRACKET];
    for (const c of list) {
      if (parts.length > 1) parts.push(COMMA);
      parts.push(this.row(c));
    }
    parts.push(CLOSE_BRACKET);
    if (this.rows.size > list.length + 1000) {
      const live = new Set(list.map((c) => c.name));
      for (const k of this.rows.keys()) if (!live.has(k)) this.rows.delete(k);
    }
    return Buffer.concat(parts);
  }
}

const LIST_HEAD = Buffer.from('{"containers":');
const LIST_MID = Buffer.from(',"summary":');
const LIST_TAIL = Buffer.from('}');
const OPEN_BRACKET = Buffer.from('[');
const CLOSE_BRACKET = Buffer.from(']');
const COMMA = Buffer.from(',');

/** `{"containers": rows, "summary": …}` as one buffer, from rows already serialised. */
export function listBody(rows: Buffer, all: readonly ContainerView[]): Buffer {
  return Buffer.concat([LIST_HEAD, rows, LIST_MID, Buffer.from(JSON.stringify(fleetSummary(all))), LIST_TAIL]);
}
