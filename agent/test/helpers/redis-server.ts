import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Socket } from 'node:net';

/**
 * A real redis-server (or valkey-server) per test file on a free port. Tests
 * may stop and restart it. Fails with a message naming the missing binary.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

export class RedisServer {
  private child: ChildProcess | null = null;
  /**
   * `readyPort` is the port to wait on when it differs from `port` (a
   * TLS-only server runs with `--port 0` and listens on its `--tls-port`).
   */
  constructor(
    readonly port: number,
    readonly extraArgs: string[] = [],
    readonly readyPort: number = port,
  ) {}

  static binary(): string {
    return process.env.REDIS_SERVER_BIN ?? 'redis-server';
  }

  async start(): Promise<void> {
    const child = spawn(
      RedisServer.binary(),
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extraArgs],
      { stdio: 'ignore' },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err) => {
        reject(new Error(`cannot start ${RedisServer.binary()} (install Debian's redis-server package): ${err.message}`));
      });
      child.once('spawn', () => {
        resolve();
      });
    });
    await this.waitReady(5000);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (await canConnect(this.readyPort)) return;
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.readyPort} did not accept connections within ${timeoutMs} ms`);
  }

  /** Freezes the server (SIGSTOP): it keeps its connections open but answers nothing. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => {
      resolve();
    }));
    child.kill('SIGKILL');
    await exited;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
    s.connect(port, '127.0.0.1');
  });
}
