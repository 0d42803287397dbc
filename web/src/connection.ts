/**
 * Live-update state machine, free of the DOM so it can be tested with fake
 * timers: Server-Sent Events first; on any stream error, REST polling every
 * `pollMs` at once, while a new stream is tried every `retryMs` (resuming
 * after the last event id seen); the first stream that opens ends polling.
 */

export type ConnState = 'connecting' | 'live' | 'polling' | 'stopped';

export interface StreamCallbacks {
  onOpen(): void;
  onError(): void;
  onEvent(type: string, id: string | null, data: string): void;
}

export interface StreamHandle {
  close(): void;
}

export interface ConnectionDeps {
  openStream(lastEventId: string | null, cb: StreamCallbacks): StreamHandle;
  /** Refreshes everything over REST; a rejection only means "try again next time". */
  poll(): Promise<void>;
  onEvent(type: string, data: string): void;
  onState(state: ConnState): void;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  pollMs?: number;
  retryMs?: number;
}

export class Connection {
  private stream: StreamHandle | null = null;
  private pollTimer: unknown = null;
  private retryTimer: unknown = null;
  private lastId: string | null = null;
  private current: ConnState = 'stopped';
  /** Bumped per stream, so callbacks of a closed stream are ignored. */
  private generation = 0;
  readonly pollMs: number;
  readonly retryMs: number;

  constructor(private readonly deps: ConnectionDeps) {
    this.pollMs = deps.pollMs ?? 5000;
    this.retryMs = deps.retryMs ?? 10_000;
  }

  get state(): ConnState {
    return this.current;
  }

  get lastEventId(): string | null {
    return this.lastId;
  }

  start(): void {
    if (this.current !== 'stopped') return;
    this.set('connecting');
    this.open();
  }

  stop(): void {
    this.closeStream();
    this.stopPolling();
    this.clearRetry();
    this.set('stopped');
  }

  private set(s: ConnState): void {
    if (s === this.current) return;
    this.current = s;
    this.deps.onState(s);
  }

  private open(): void {
    this.closeStream();
    const gen = ++this.generation;
    this.stream = this.deps.openStream(this.lastId, {
      onOpen: () => {
        if (gen !== this.generation) return;
        this.clearRetry();
        this.stopPolling();
        this.set('live');
      },
      onError: () => {
        if (gen !== this.generation) return;
        this.closeStream();
        this.startPolling();
        this.scheduleRetry();
      },
      onEvent: (type, id, data) => {
        if (gen !== this.generation) return;
        if (id !== null && id !== '') this.lastId = id;
        this.deps.onEvent(type, data);
      },
    });
  }

  private closeStream(): void {
    this.generation += 1;
    this.stream?.close();
    this.stream = null;
  }

  private startPolling(): void {
    if (this.current === 'polling' || this.current === 'stopped') return;
    this.set('polling');
    const tick = (): void => {
      void this.deps.poll().catch(() => undefined);
      this.pollTimer = this.deps.setTimer(tick, this.pollMs);
    };
    tick();
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) this.deps.clearTimer(this.pollTimer);
    this.pollTimer = null;
  }

  private scheduleRetry(): void {
    this.clearRetry();
    this.retryTimer = this.deps.setTimer(() => {
      this.retryTimer = null;
      if (this.current === 'polling') this.open();
    }, this.retryMs);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.deps.clearTimer(this.retryTimer);
    this.retryTimer = null;
  }
}
