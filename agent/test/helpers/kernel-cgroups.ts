import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Real kernel cgroups for integration tests. These need root and the
 * hierarchies this machine has (v1 controllers under /sys/fs/cgroup/<ctrl>
 * and a cgroup2 tree at /sys/fs/cgroup/unified); a missing piece fails the
 * test with a message naming it.
 */
export const V1_ROOT = '/sys/fs/cgroup';
export const V2_ROOT = '/sys/fs/cgroup/unified';

export function requireKernelCgroups(opts: { v1: string[]; v2: boolean }): void {
  if (process.getuid?.() !== 0) throw new Error('this test needs root to create cgroups (run the suite as root)');
  for (const c of opts.v1) {
    const dir = join(V1_ROOT, c);
    if (!existsSync(join(dir, 'cgroup.procs'))) {
      throw new Error(`this test needs the cgroup v1 "${c}" controller mounted at ${dir}`);
    }
  }
  if (opts.v2 && !existsSync(join(V2_ROOT, 'cgroup.procs'))) {
    throw new Error(`this test needs a cgroup2 hierarchy mounted at ${V2_ROOT}`);
  }
}

/** A cgroup created in several hierarchies under the same name; removed by `remove()`. */
export class TestCgroup {
  readonly dirs: string[] = [];
  readonly children: ChildProcess[] = [];

  constructor(readonly name: string, roots: string[]) {
    for (const root of roots) {
      const dir = join(root, name);
      mkdirSync(dir);
      this.dirs.push(dir);
    }
  }

  dir(root: string): string {
    return join(root, this.name);
  }

  write(root: string, file: string, value: string): void {
    writeFileSync(join(this.dir(root), file), value);
  }

  read(root: string, file: string): string {
    return readFileSync(join(this.dir(root), file), 'utf8');
  }

  /**
   * Starts `node -e script` inside the cgroup: a shell joins every hierarchy
   * first and then execs node, so the process never runs outside.
   */
  async spawnInside(script: string): Promise<ChildProcess> {
    const joins = this.dirs.map((d) => `echo $$ > '${d}/cgroup.procs'`).join(' && ');
    const child = spawn('sh', ['-c', `${joins} && exec "$0" -e "$1"`, process.execPath, script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        resolve();
      });
    });
    return child;
  }

  /** Kills the processes, waits until the cgroups are empty, removes them. */
  async remove(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const dir of this.dirs.reverse()) {
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          if (typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT') break;
          await sleep(20);
        }
      }
    }
  }
}

/** Waits until the child prints a line (used as "ready"). */
export function waitForLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no output from child within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout?.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString());
    });
  });
}

export const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${Date.now().toString(36)}`;
