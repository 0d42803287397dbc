import type { Alert, Status } from './schemas.js';
import { cpuOfLimit, type ContainerState } from './store.js';

/** One fleet-table row, computed from the newest sample (null = not reported). */
export interface FleetRow {
  name: string;
  status: Status;
  cpu: number | null;
  mem: number | null;
  rx: number | null;
  tx: number | null;
  read: number | null;
  write: number | null;
  disk: number | null;
  gpus: number;
  uptime: number | null;
}

export function fleetRow(c: ContainerState): FleetRow {
  const p = c.sample;
  return {
    name: c.name,
    status: c.status,
    cpu: cpuOfLimit(p),
    mem: p?.memory_percent ?? null,
    rx: p?.network?.rx_bytes_per_sec ?? null,
    tx: p?.network?.tx_bytes_per_sec ?? null,
    read: p?.io?.read_bytes_per_sec ?? null,
    write: p?.io?.write_bytes_per_sec ?? null,
    disk: p?.disk_percent ?? null,
    gpus: p?.gpus.length ?? 0,
    uptime: p?.uptime_seconds ?? null,
  };
}

export type SortKey = Exclude<keyof FleetRow, never>;
export const SORT_KEYS: readonly SortKey[] = ['name', 'status', 'cpu', 'mem', 'rx', 'tx', 'read', 'write', 'disk', 'gpus', 'uptime'];

const STATUS_ORDER: Record<Status, number> = { offline: 0, stale: 1, exited: 2, ok: 3 };

/** Sorts a copy; missing values always sort last, names break ties. */
export function sortRows(rows: readonly FleetRow[], key: SortKey, dir: 'asc' | 'desc'): FleetRow[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    let d: number;
    if (key === 'name') d = a.name.localeCompare(b.name);
    else if (key === 'status') d = STATUS_ORDER[a.status] - STATUS_ORDER[b.status];
    else {
      const x = a[key];
      const y = b[key];
      if (x === null && y === null) d = 0;
      else if (x === null) return 1;
      else if (y === null) return -1;
      else d = x - y;
    }
    return d !== 0 ? sign * d : a.name.localeCompare(b.name);
  });
}

/** Case-insensitive substring match on the name. */
export function filterRows(rows: readonly FleetRow[], q: string): FleetRow[] {
  const needle = q.trim().toLowerCase();
  return needle === '' ? [...rows] : rows.filter((r) => r.name.toLowerCase().includes(needle));
}

export interface FleetSummary {
  byStatus: Record<Status, number>;
  coresUsed: number;
  coresLimit: number;
  memUsed: number;
  memLimit: number;
  firing: number;
}

/** Totals over containers reporting now (ok): a stale figure is not current use. */
export function fleetSummary(cs: Iterable<ContainerState>, alerts: readonly Alert[]): FleetSummary {
  const s: FleetSummary = { byStatus: { ok: 0, stale: 0, offline: 0, exited: 0 }, coresUsed: 0, coresLimit: 0, memUsed: 0, memLimit: 0, firing: 0 };
  for (const c of cs) {
    s.byStatus[c.status] += 1;
    const p = c.sample;
    if (c.status !== 'ok' || p === null) continue;
    s.coresUsed += p.cpu?.cores_used ?? 0;
    s.coresLimit += p.cpu?.limit_cores ?? 0;
    s.memUsed += p.memory_usage_bytes ?? 0;
    s.memLimit += p.memory?.limit_bytes ?? 0;
  }
  s.firing = alerts.filter((a) => a.state === 'firing').length;
  return s;
}
