import type { Payload, PublishStatus } from '../../shared/src/payload.js';
import { HostPublisher, type ContainerFeed, type HostPublisherOptions } from './host/host-publisher.js';

/** The host writer's options (connection, ttls, deadline, log, clock) and the one container's name. */
export interface PublisherOptions extends HostPublisherOptions {
  containerName: string;
}

export type LogLevel = 'info' | 'warn' | 'error';

/**
 * The sidecar's writer: one container on its own connection, which is the
 * host agent's writer (host/host-publisher.ts) with one feed, so both keep
 * the same connection rules and write the same commands. Each sample goes
 * in one round trip and nothing else is kept: while Valkey is unreachable a
 * sample is skipped, never queued (no offline queue, one deadline per
 * write), so memory stays flat however long the outage lasts. State changes
 * (connected, lost, back, each distinct error) are logged once, and become
 * Sirius log entries written once Valkey is back.
 */
export class Publisher {
  private readonly writer: HostPublisher;
  private readonly feed: ContainerFeed;

  constructor(opts: PublisherOptions) {
    this.writer = new HostPublisher(opts);
    this.feed = this.writer.feed(opts.containerName);
  }

  /** Starts connecting; never throws (an unreachable Valkey is retried in the background). */
  start(): void {
    this.writer.start();
  }

  get connected(): boolean {
    return this.writer.connected;
  }

  status(): PublishStatus {
    return this.feed.status();
  }

  /** Records a real event as a Sirius log entry, written with the next successful publish. */
  event(level: LogLevel, message: string): void {
    this.feed.event(level, message);
  }

  /** One round trip: latest sample, registry, history, pub/sub, and pending log entries. Returns whether the sample was written. */
  async publish(payload: Payload): Promise<boolean> {
    const [ok] = await this.writer.publishAll([{ feed: this.feed, payload }]);
    return ok ?? false;
  }

  /** The last write on a clean stop: `status: "exited"` with a short ttl, no history entry. */
  async publishFinal(payload: Payload, ttlSeconds: number): Promise<boolean> {
    return this.writer.publishFinal(this.feed, payload, ttlSeconds);
  }

  /** Closes the connection: QUIT when it answers quickly, else drop it. */
  async close(timeoutMs = 300): Promise<void> {
    await this.writer.close(timeoutMs);
  }
}
