import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Env pointing the agent at a fixture tree (cgroup, /proc and /sys) instead of this machine. */
export function fixtureEnv(name: string): Record<string, string> {
  const root = join(REPO, 'agent/test/fixtures', name);
  return { CGROUP_ROOT: join(root, 'sys/fs/cgroup'), PROC_ROOT: join(root, 'proc'), SYS_ROOT: join(root, 'sys') };
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/**
 * A real `system-monitor` process (TypeScript source through tsx), with its
 * JSON log lines collected so tests can assert on what it said and how often.
 */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  stderr = '';
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `entry` is the TypeScript program to run: the agent, or the aggregator (`aggregator/src/main.ts`). */
  constructor(args: string[], env: Record<string, string>, entry = 'agent/src/main.ts') {
    this.child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ level: 0, msg: `(not JSON) ${line}` });
        }
      }
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error('agent process did not start');
    return pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Log lines whose message matches. */
  said(re: RegExp): LogLine[] {
    return this.logs.filter((l) => re.test(l.msg));
  }

  async waitForLog(re: RegExp, timeoutMs: number): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const hit = this.logs.find((l) => re.test(l.msg));
      if (hit) return hit;
      if (!this.alive) break;
      await sleep(50);
    }
    throw new Error(`agent did not log ${re} within ${timeoutMs} ms; it said:\n${this.logs.map((l) => l.msg).join('\n')}\nstderr: ${this.stderr}`);
  }

  /** Resident set size from /proc/<pid>/status, in bytes. */
  rssBytes(): number {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m?.[1]) throw new Error('no VmRSS line');
    return Number(m[1]) * 1024;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  async exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const t = sleep(timeoutMs).then(() => {
      throw new Error(`agent did not exit within ${timeoutMs} ms`);
    });
    return Promise.race([this.exit, t]);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exit;
  }
}
