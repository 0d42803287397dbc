import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** Whether 127.0.0.1:`port` can be listened on now. */
export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => {
      resolve(false);
    });
    srv.listen(port, '127.0.0.1', () => {
      srv.close(() => {
        resolve(true);
      });
    });
  });
}

/** This test process's server logs (one folder, so a failed run leaves them to read). */
const LOG_DIR = mkdtempSync(join(tmpdir(), 'sm-redis-logs-'));

export class RedisServer {
  private child: ChildProcess | null = null;
  /** Where the running (or last) server logs. */
  private logFile: string | null = null;

  /** The server's own last log lines, up to 2,000 characters (for a test's failure message). */
  lastOutput(): string {
    if (this.logFile === null) return '';
    try {
      return readFileSync(this.logFile, 'utf8').slice(-2000).trim();
    } catch {
      return '';
    }
  }
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
    // The server logs to a file, which a failure message can quote (lastOutput)
    // without this process having to drain a pipe for the server's whole life.
    const logFile = join(LOG_DIR, `redis-${this.port}-${Date.now()}.log`);
    const child = spawn(
      RedisServer.binary(),
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', logFile, ...this.extraArgs],
      { stdio: 'ignore' },
    );
    this.child = child;
    this.logFile = logFile;
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
    const child = this.child;
    while (Date.now() < until) {
      if (await canConnect(this.readyPort, this.readyPort === this.port)) return;
      // A server that cannot bind its port (or its cluster bus port) exits at once: say so instead of waiting.
      if (child !== null && child.exitCode !== null) throw new Error(`${RedisServer.binary()} on port ${this.readyPort} exited with code ${child.exitCode} at start:\n${this.lastOutput()}`);
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.readyPort} did not accept connections within ${timeoutMs} ms`);
  }

  /** SIGKILL at once, synchronously: for a process 'exit' handler, where nothing can be awaited. */
  killNow(): void {
    this.child?.kill('SIGKILL');
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

/**
 * Whether a server answers on `port`. With `ping`, it must answer PING with a
 * RESP reply (`+PONG`, or an error such as `-NOAUTH`), so another program
 * that happens to hold the port is not taken for the server; without (a
 * TLS-only port), accepting the connection is enough.
 */
function canConnect(port: number, ping: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => {
      done(false);
    }, 500);
    s.once('connect', () => {
      if (!ping) {
        done(true);
        return;
      }
      s.write('PING\r\n');
    });
    s.once('data', (b: Buffer) => {
      done(b[0] === 0x2b || b[0] === 0x2d);
    });
    s.once('error', () => {
      done(false);
    });
    s.once('close', () => {
      done(false);
    });
    s.connect(port, '127.0.0.1');
  });
}
