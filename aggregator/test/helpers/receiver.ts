import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';

export interface Received {
  headers: IncomingHttpHeaders;
  body: unknown;
  /** Status the receiver answered. */
  answered: number;
  at: number;
}

/**
 * A real HTTP webhook receiver on 127.0.0.1. `plan` decides each answer by
 * request number (0-based): a status, or 'hang' to never answer.
 */
export class Receiver {
  readonly requests: Received[] = [];
  private server: Server | null = null;
  private readonly hanging: ServerResponse[] = [];
  port = 0;

  constructor(private readonly plan: (n: number) => number | 'hang' | { status: number; headers: Record<string, string> }) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Requests answered 2xx. */
  successes(): Received[] {
    return this.requests.filter((r) => r.answered >= 200 && r.answered < 300);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const n = this.requests.length;
        const p = this.plan(n);
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = null;
        }
        const status = p === 'hang' ? 0 : typeof p === 'number' ? p : p.status;
        this.requests.push({ headers: req.headers, body, answered: status, at: Date.now() });
        if (p === 'hang') {
          this.hanging.push(res);
          return;
        }
        res.writeHead(status, typeof p === 'number' ? {} : p.headers);
        res.end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    const s = this.server;
    this.server = null;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => { resolve(); }));
  }
}
