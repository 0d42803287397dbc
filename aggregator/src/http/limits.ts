import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

/** Caps and timeouts that keep one client (or one address) from holding the server. */
export interface HttpLimits {
  /** Open connections in total; beyond, new ones are answered 503 and closed. */
  maxConnections: number;
  /** Open connections from one remote address; beyond, 429. Behind a reverse proxy every client shares its address. */
  maxConnectionsPerAddress: number;
  /** A request's headers must arrive within this (408 otherwise). */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic either way for this long is closed (SSE heartbeats keep live streams busy). */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 2048,
  maxConnectionsPerAddress: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
};

/** A socket over a cap gets this long to send its request and read the refusal. */
const REFUSED_SOCKET_GRACE_MS = 2_000;

/**
 * node:http options for the limits. Node checks the header and request
 * timeouts only every `connectionsCheckingInterval` (30 s by default, which
 * let slow-header sockets live for ~54 s): checked every second here.
 */
export function serverOptions(l: HttpLimits): ServerOptions {
  return {
    maxHeaderSize: 16 * 1024,
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
  };
}

export interface Refusal {
  status: 429 | 503;
  error: string;
}

export interface ConnectionStats {
  open: number;
  refused_total: number;
}

/**
 * Counts open connections, in total and per remote address. A connection
 * over a cap is still parsed (so it can be told why in JSON) but its request
 * is answered with the refusal and the socket is destroyed soon after, so a
 * flood of silent sockets costs at most the grace period each.
 */
export class ConnectionLimiter {
  private open = 0;
  private readonly byAddress = new Map<string, number>();
  private readonly refused = new WeakMap<Socket, Refusal>();
  private refusedTotal = 0;

  constructor(private readonly limits: HttpLimits) {}

  get stats(): ConnectionStats {
    return { open: this.open, refused_total: this.refusedTotal };
  }

  attach(server: Server): void {
    server.setTimeout(this.limits.idleTimeoutMs, (socket) => {
      socket.destroy();
    });
    // A hard stop well above the soft cap, for sockets that arrive faster than refusals end them.
    server.maxConnections = this.limits.maxConnections * 2;
    server.on('connection', (socket: Socket) => {
      this.onConnection(socket);
    });
  }

  /** Why this connection's requests are refused, or null when it is within the caps. */
  refusal(socket: Socket): Refusal | null {
    return this.refused.get(socket) ?? null;
  }

  private onConnection(socket: Socket): void {
    const addr = socket.remoteAddress ?? 'unknown';
    const mine = (this.byAddress.get(addr) ?? 0) + 1;
    this.byAddress.set(addr, mine);
    this.open += 1;
    socket.once('close', () => {
      this.open -= 1;
      const n = (this.byAddress.get(addr) ?? 1) - 1;
      if (n <= 0) this.byAddress.delete(addr);
      else this.byAddress.set(addr, n);
    });
    let r: Refusal | null = null;
    if (this.open > this.limits.maxConnections) {
      r = { status: 503, error: `the server has ${this.limits.maxConnections} connections open, its limit; try again later` };
    } else if (mine > this.limits.maxConnectionsPerAddress) {
      r = { status: 429, error: `${addr} has ${this.limits.maxConnectionsPerAddress} connections open, the limit per address; close some (behind a reverse proxy, raise HTTP_MAX_CONNECTIONS_PER_ADDRESS)` };
    }
    if (r === null) return;
    this.refusedTotal += 1;
    this.refused.set(socket, r);
    setTimeout(() => {
      socket.destroy();
    }, REFUSED_SOCKET_GRACE_MS).unref();
  }
}
