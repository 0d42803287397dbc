import type { Payload } from '../../shared/src/payload.js';
import type { Alert, ListedContainer, Status } from './schemas.js';
import { SeriesBuffer } from './series.js';

export interface ContainerState {
  name: string;
  status: Status;
  sample: Payload | null;
  /** CPU % of limit, newest last, for the sparkline. */
  spark: SeriesBuffer;
}

export const SPARK_POINTS = 60;
export const GPU_POINTS = 900;

/** CPU as percent of the container's limit (unclamped when the agent gives it), else the Sirius field. */
export function cpuOfLimit(p: Payload | null): number | null {
  return p?.cpu?.percent_of_limit ?? p?.cpu_percent ?? null;
}

function sampleTime(p: Payload): number {
  return Date.parse(p.timestamp) / 1000;
}

/**
 * What the page knows about the fleet, fed by SSE events or REST polls.
 * Pure data: views subscribe and redraw what changed.
 */
export class FleetStore {
  readonly containers = new Map<string, ContainerState>();
  alerts: Alert[] = [];
  /** True once the first full list arrived (before that the page shows skeletons). */
  loaded = false;
  private readonly listeners = new Set<(names: ReadonlySet<string> | null) => void>();
  private readonly gpus = new Map<string, SeriesBuffer>();
  private readonly sampleListeners = new Set<(p: Payload) => void>();

  /** `names` is what changed; null means "everything" (a poll or alerts). */
  subscribe(fn: (names: ReadonlySet<string> | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onSample(fn: (p: Payload) => void): () => void {
    this.sampleListeners.add(fn);
    return () => this.sampleListeners.delete(fn);
  }

  /** Utilization % and temperature of one GPU, collected since the page opened. */
  gpuSeries(uuid: string): SeriesBuffer {
    let b = this.gpus.get(uuid);
    if (b === undefined) {
      b = new SeriesBuffer(2, GPU_POINTS);
      this.gpus.set(uuid, b);
    }
    return b;
  }

  private emit(names: ReadonlySet<string> | null): void {
    for (const fn of this.listeners) fn(names);
  }

  private entry(name: string): ContainerState {
    let c = this.containers.get(name);
    if (c === undefined) {
      c = { name, status: 'offline', sample: null, spark: new SeriesBuffer(1, SPARK_POINTS) };
      this.containers.set(name, c);
    }
    return c;
  }

  private take(c: ContainerState, p: Payload): boolean {
    const prev = c.sample;
    if (prev !== null && Date.parse(prev.timestamp) > Date.parse(p.timestamp)) return false;
    c.sample = p;
    const t = sampleTime(p);
    c.spark.push(t, [cpuOfLimit(p)]);
    for (const g of p.gpus) this.gpuSeries(g.uuid).push(t, [g.utilization_percent, g.temperature_c]);
    for (const fn of this.sampleListeners) fn(p);
    return true;
  }

  /** A live sample: the container is ok (or exited, if the sample says so). */
  applySample(p: Payload): void {
    const c = this.entry(p.container_name);
    if (!this.take(c, p)) return;
    c.status = p.status === 'exited' ? 'exited' : 'ok';
    this.emit(new Set([c.name]));
  }

  applyStatus(name: string, to: Status): void {
    const c = this.entry(name);
    if (c.status === to) return;
    c.status = to;
    this.emit(new Set([name]));
  }

  /** A full list from REST: containers not in it are gone (pruned). */
  applyList(list: readonly ListedContainer[]): void {
    const seen = new Set<string>();
    for (const l of list) {
      seen.add(l.name);
      const c = this.entry(l.name);
      c.status = l.status;
      if (l.sample !== undefined && l.sample !== null) this.take(c, l.sample);
    }
    for (const [name, c] of [...this.containers]) {
      if (seen.has(name)) continue;
      this.containers.delete(name);
      for (const g of c.sample?.gpus ?? []) this.gpus.delete(g.uuid);
    }
    this.loaded = true;
    this.emit(null);
  }

  setAlerts(alerts: Alert[]): void {
    this.alerts = alerts;
    this.emit(null);
  }
}
