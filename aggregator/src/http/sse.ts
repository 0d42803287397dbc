import type { ServerResponse } from 'node:http';
import { TextRing, type RingItem } from './text-ring.js';

export const SSE_EVENT_TYPES = ['sample', 'status', 'alert'] as const;
export type SseEventType = (typeof SSE_EVENT_TYPES)[number];

/** What the replay ring keeps of an event beside its data. */
interface EventMeta {
  type: SseEventType;
  container: string | null;
}

export interface SseClientFilter {
  containers: Set<string> | null;
  types: Set<SseEventType> | null;
}

interface Client {
  res: ServerResponse;
  filter: SseClientFilter;
  address: string;
  /** While replaying, the id of the last ring event looked at; null once live. */
  cursor: number | null;
}

export interface SseHubOptions {
  /** Events kept for replay on `Last-Event-ID`. */
  ringSize: number;
  /** ...and at most this many bytes of event data (UTF-8), held outside the JavaScript heap: the oldest go first (default 8 MiB). */
  ringMaxBytes?: number;
  /** A client whose unsent bytes pass this is disconnected (it reconnects and resumes). */
  maxBufferedBytes: number;
  heartbeatMs: number;
  /** Reconnect delay suggested to clients. */
  retryMs: number;
  /** A replay larger than this (bytes of matching events) is not sent: the client gets a `reload` event instead (default maxBufferedBytes). */
  maxReplayBytes?: number;
  /** Clients in total (503 beyond) and per remote address (429 beyond). */
  maxClients?: number;
  maxClientsPerAddress?: number;
}

/** Why a new client is refused, for a JSON answer. */
export interface SseRefusal {
  status: 429 | 503;
  error: string;
}

export interface SseStats {
  clients: number;
  events_total: number;
  dropped_clients_total: number;
  /** Clients still being sent their replay. */
  replaying: number;
  reloads_total: number;
  refused_total: number;
}

/**
 * Server-Sent Events fan-out with ids, replay from a bounded ring buffer, a
 * comment heartbeat, and a bound on each client's unsent buffer: a slow
 * client is cut off rather than buffered without limit.
 *
 * Replay is written from the ring as the socket drains (never more than one
 * write buffer ahead), so a client that asks for the whole ring and reads
 * nothing holds a few kilobytes, not a copy of the ring. A gap larger than
 * `maxReplayBytes`, older than the ring, or from another run of the server
 * (ids ahead of ours) is answered with a `reload` event carrying the newest
 * id: the client reloads its state over REST and goes on with live events.
 */
export class SseHub {
  private readonly ring: TextRing<EventMeta>;
  private readonly clients = new Set<Client>();
  /** Clients following named containers, by name, and those following all: an event visits only its recipients. */
  private readonly byContainer = new Map<string, Set<Client>>();
  private readonly unfiltered = new Set<Client>();
  private nextId = 1;
  private readonly heartbeat: NodeJS.Timeout;
  private dropped = 0;
  private reloads = 0;
  private refused = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly opts: SseHubOptions) {
    this.ring = new TextRing(opts.ringMaxBytes ?? 8 * 1024 * 1024, opts.ringSize);
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) if (c.cursor === null) this.write(c, ': heartbeat\n\n');
    }, opts.heartbeatMs);
    this.heartbeat.unref();
  }

  get stats(): SseStats {
    let replaying = 0;
    for (const c of this.clients) if (c.cursor !== null) replaying += 1;
    return { clients: this.clients.size, events_total: this.nextId - 1, dropped_clients_total: this.dropped, replaying, reloads_total: this.reloads, refused_total: this.refused };
  }

  /** Null when a client from `address` may attach now, else why not. */
  admit(address: string): SseRefusal | null {
    const max = this.opts.maxClients ?? Infinity;
    const perAddress = this.opts.maxClientsPerAddress ?? Infinity;
    let r: SseRefusal | null = null;
    if (this.clients.size >= max) {
      r = { status: 503, error: `the server already streams events to ${max} clients, its limit (SSE_MAX_CLIENTS); try again later` };
    } else if ((this.perAddress.get(address) ?? 0) >= perAddress) {
      r = { status: 429, error: `${address} already has ${perAddress} event streams open, the limit per address (SSE_MAX_CLIENTS_PER_ADDRESS); close one first` };
    }
    if (r !== null) this.refused += 1;
    return r;
  }

  /** Sends an event to every matching client and keeps it for replay. Types come from a fixed list and data is JSON, so no field can carry a newline. */
  publish(type: SseEventType, container: string | null, data: unknown): void {
    this.publishJson(type, container, JSON.stringify(data));
  }

  /** As publish, for data that is already a JSON document (a sample as it came from Valkey). */
  publishJson(type: SseEventType, container: string | null, text: string): void {
    if (text.includes('\n')) throw new Error('SSE data must be one line of JSON (it contains a newline)');
    const id = this.nextId++;
    const meta: EventMeta = { type, container };
    this.ring.push(id, meta, text);
    let frame: string | null = null;
    const send = (c: Client): void => {
      // A replaying client takes this event from the ring when it gets there.
      if (c.cursor !== null) return;
      if (c.filter.types !== null && !c.filter.types.has(type)) return;
      frame ??= format(id, type, text);
      this.write(c, frame);
    };
    for (const c of this.unfiltered) send(c);
    if (container !== null) for (const c of this.byContainer.get(container) ?? []) send(c);
  }

  /** Attaches a response; replays what it missed after `lastEventId` (still in the ring, within maxReplayBytes). */
  attach(res: ServerResponse, filter: SseClientFilter, lastEventId: number | null, address = 'unknown'): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    const client: Client = { res, filter, address, cursor: null };
    this.add(client);
    res.on('close', () => {
      this.remove(client);
    });
    this.write(client, `retry: ${this.opts.retryMs}\n\n`);
    if (lastEventId === null) return;
    const newest = this.nextId - 1;
    if (lastEventId === newest) return;
    if (lastEventId > newest) {
      this.reload(client, `event ${lastEventId} is from another run of the server (its newest is ${newest})`);
      return;
    }
    const first = this.ring.first;
    if (first === undefined || lastEventId + 1 < first.id) {
      this.reload(client, `events after ${lastEventId} are no longer kept for replay`);
      return;
    }
    const maxBytes = this.opts.maxReplayBytes ?? this.opts.maxBufferedBytes;
    let bytes = 0;
    for (let id = lastEventId + 1; id < this.nextId; id += 1) {
      const ev = this.ring.at(id);
      if (ev !== undefined && matches(filter, ev.meta)) bytes += ev.bytes;
      if (bytes > maxBytes) {
        this.reload(client, `more than ${maxBytes} bytes of events were missed`);
        return;
      }
    }
    client.cursor = lastEventId;
    this.pump(client);
  }

  /** Writes replay from the ring until the socket's buffer is full, then again on 'drain'; live once caught up. */
  private pump(c: Client): void {
    while (c.cursor !== null && !c.res.destroyed) {
      const first = this.ring.first;
      if (first === undefined || c.cursor >= this.nextId - 1) {
        c.cursor = null;
        return;
      }
      if (c.cursor + 1 < first.id) {
        this.reload(c, `the replay fell behind the events kept (the client reads too slowly)`);
        return;
      }
      const ev: RingItem<EventMeta> | undefined = this.ring.at(c.cursor + 1);
      if (ev === undefined) {
        c.cursor = null;
        return;
      }
      c.cursor = ev.id;
      if (!matches(c.filter, ev.meta)) continue;
      if (!c.res.write(format(ev.id, ev.meta.type, this.ring.text(ev)))) {
        c.res.once('drain', () => {
          this.pump(c);
        });
        return;
      }
    }
  }

  /** Tells the client to reload its state (REST) and resume from the newest id; then it is live. */
  private reload(c: Client, reason: string): void {
    this.reloads += 1;
    c.cursor = null;
    const newest = this.nextId - 1;
    this.write(c, `id: ${newest}\nevent: reload\ndata: ${JSON.stringify({ reason, last_event_id: newest })}\n\n`);
  }

  private write(c: Client, frame: string): void {
    if (c.res.destroyed) return;
    // Checked before writing, so a client never holds more than the bound (a single larger event still goes to an empty buffer).
    if (c.res.writableLength > 0 && c.res.writableLength + frame.length > this.opts.maxBufferedBytes) {
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
    this.perAddress.clear();
    this.byContainer.clear();
    this.unfiltered.clear();
  }

  private add(c: Client): void {
    this.clients.add(c);
    this.perAddress.set(c.address, (this.perAddress.get(c.address) ?? 0) + 1);
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
    const n = (this.perAddress.get(c.address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(c.address);
    else this.perAddress.set(c.address, n);
    this.unfiltered.delete(c);
    for (const name of c.filter.containers ?? []) {
      const set = this.byContainer.get(name);
      set?.delete(c);
      if (set?.size === 0) this.byContainer.delete(name);
    }
  }
}

function matches(f: SseClientFilter, ev: EventMeta): boolean {
  if (f.types !== null && !f.types.has(ev.type)) return false;
  if (f.containers !== null && (ev.container === null || !f.containers.has(ev.container))) return false;
  return true;
}

function format(id: number, type: SseEventType, data: string): string {
  // JSON.stringify never emits a raw newline, so `data` is one line.
  return `id: ${id}\nevent: ${type}\ndata: ${data}\n\n`;
}
