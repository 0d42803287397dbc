import type { ServerResponse } from 'node:http';

export const SSE_EVENT_TYPES = ['sample', 'status', 'alert'] as const;
export type SseEventType = (typeof SSE_EVENT_TYPES)[number];

export interface SseEvent {
  id: number;
  type: SseEventType;
  container: string | null;
  data: string;
}

export interface SseClientFilter {
  containers: Set<string> | null;
  types: Set<SseEventType> | null;
}

interface Client {
  res: ServerResponse;
  filter: SseClientFilter;
}

export interface SseHubOptions {
  /** Events kept for replay on `Last-Event-ID`. */
  ringSize: number;
  /** ...and at most this many bytes of event data: the oldest go first (default 16 MiB). */
  ringMaxBytes?: number;
  /** A client whose unsent bytes pass this is disconnected (it reconnects and resumes). */
  maxBufferedBytes: number;
  heartbeatMs: number;
  /** Reconnect delay suggested to clients. */
  retryMs: number;
}

export interface SseStats {
  clients: number;
  events_total: number;
  dropped_clients_total: number;
}

/**
 * Server-Sent Events fan-out with ids, replay from a bounded ring buffer, a
 * comment heartbeat, and a bound on each client's unsent buffer: a slow
 * client is cut off rather than buffered without limit.
 */
export class SseHub {
  private readonly ring: SseEvent[] = [];
  private ringBytes = 0;
  private readonly clients = new Set<Client>();
  /** Clients following named containers, by name, and those following all: an event visits only its recipients. */
  private readonly byContainer = new Map<string, Set<Client>>();
  private readonly unfiltered = new Set<Client>();
  private nextId = 1;
  private readonly heartbeat: NodeJS.Timeout;
  private dropped = 0;

  constructor(private readonly opts: SseHubOptions) {
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) this.write(c, ': heartbeat\n\n');
    }, opts.heartbeatMs);
    this.heartbeat.unref();
  }

  get stats(): SseStats {
    return { clients: this.clients.size, events_total: this.nextId - 1, dropped_clients_total: this.dropped };
  }

  /** Sends an event to every matching client and keeps it for replay. Types come from a fixed list and data is JSON, so no field can carry a newline. */
  publish(type: SseEventType, container: string | null, data: unknown): void {
    this.publishJson(type, container, JSON.stringify(data));
  }

  /** As publish, for data that is already a JSON document (a sample as it came from Valkey). */
  publishJson(type: SseEventType, container: string | null, text: string): void {
    if (text.includes('\n')) throw new Error('SSE data must be one line of JSON (it contains a newline)');
    const ev: SseEvent = { id: this.nextId++, type, container, data: text };
    this.ring.push(ev);
    this.ringBytes += text.length;
    const maxBytes = this.opts.ringMaxBytes ?? 16 * 1024 * 1024;
    while (this.ring.length > 0 && (this.ring.length > this.opts.ringSize || this.ringBytes > maxBytes)) {
      this.ringBytes -= this.ring.shift()?.data.length ?? 0;
    }
    let frame: string | null = null;
    const send = (c: Client): void => {
      if (c.filter.types !== null && !c.filter.types.has(ev.type)) return;
      frame ??= format(ev);
      this.write(c, frame);
    };
    for (const c of this.unfiltered) send(c);
    if (container !== null) for (const c of this.byContainer.get(container) ?? []) send(c);
  }

  /** Attaches a response; replays what it missed after `lastEventId` (still in the ring). */
  attach(res: ServerResponse, filter: SseClientFilter, lastEventId: number | null): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    const client: Client = { res, filter };
    this.add(client);
    res.on('close', () => {
      this.remove(client);
    });
    let head = `retry: ${this.opts.retryMs}\n\n`;
    if (lastEventId !== null) {
      for (const ev of this.ring) if (ev.id > lastEventId && matches(filter, ev)) head += format(ev);
    }
    this.write(client, head);
  }

  private write(c: Client, frame: string): void {
    if (c.res.destroyed) return;
    if (c.res.writableLength > this.opts.maxBufferedBytes) {
      this.dropped += 1;
      this.remove(c);
      c.res.destroy();
      return;
    }
    c.res.write(frame);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.byContainer.clear();
    this.unfiltered.clear();
  }

  private add(c: Client): void {
    this.clients.add(c);
    if (c.filter.containers === null) {
      this.unfiltered.add(c);
      return;
    }
    for (const name of c.filter.containers) {
      let set = this.byContainer.get(name);
      if (set === undefined) {
        set = new Set();
        this.byContainer.set(name, set);
      }
      set.add(c);
    }
  }

  private remove(c: Client): void {
    if (!this.clients.delete(c)) return;
    this.unfiltered.delete(c);
    for (const name of c.filter.containers ?? []) {
      const set = this.byContainer.get(name);
      set?.delete(c);
      if (set?.size === 0) this.byContainer.delete(name);
    }
  }
}

function matches(f: SseClientFilter, ev: SseEvent): boolean {
  if (f.types !== null && !f.types.has(ev.type)) return false;
  if (f.containers !== null && (ev.container === null || !f.containers.has(ev.container))) return false;
  return true;
}

function format(ev: SseEvent): string {
  // JSON.stringify never emits a raw newline, so `data` is one line.
  return `id: ${ev.id}\nevent: ${ev.type}\ndata: ${ev.data}\n\n`;
}
