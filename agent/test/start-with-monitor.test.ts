import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { metricsKey } from '../../shared/src/keys.js';
import { payloadSchema } from '../../shared/src/payload.js';
import { REPO, fixtureEnv } from './helpers/agent-process.js';
import { freePort, RedisServer } from './helpers/redis-server.js';

const SCRIPT = join(REPO, 'scripts/start-with-monitor.sh');

function requireCommand(cmd: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
  if (r.status !== 0) throw new Error(`${cmd} is needed for this test (Debian package ${pkg}; .ci/run installs it)`);
}

const shells: { name: string; argv: string[]; pkg: string }[] = [
  { name: 'dash', argv: ['dash'], pkg: 'dash' },
  { name: 'busybox sh', argv: ['busybox', 'sh'], pkg: 'busybox' },
];

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'swm-'));
});
after(() => {
  for (const run of runs) run.killGroup();
  rmSync(dir, { recursive: true, force: true });
});

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/**
 * An agent stand-in: records its pid, its start and a SIGTERM, says hello on
 * stdout, then runs until stopped.
 */
function agentBody(log: string, pid: string): string {
  return `echo $$ > ${pid}\necho start >> ${log}\necho "agent says hello"\ntrap 'echo TERM >> ${log}; exit 0' TERM\nwhile :; do sleep 0.1; done`;
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

interface RunOptions {
  /** A copy of the wrapper somewhere else, for what it finds beside itself. */
  script?: string;
  /** Give the wrapper a stdin pipe and collect its stdout. */
  pipes?: boolean;
}

const runs = new Set<Run>();

class Run {
  readonly child: ChildProcess;
  stderr = '';
  stdout = '';
  readonly done: Promise<{ code: number | null; ms: number }>;
  private readonly t0 = Date.now();
  constructor(shell: string[], main: string[], env: Record<string, string>, opts: RunOptions = {}) {
    const [cmd = 'sh', ...args] = shell;
    const io = opts.pipes === true ? 'pipe' : 'ignore';
    // Its own process group, so that what a failed test leaves behind (main command, agent) can be killed with it.
    this.child = spawn(cmd, [...args, opts.script ?? SCRIPT, ...main], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: [io, io, 'pipe'], detached: true });
    runs.add(this);
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
    });
    this.done = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        resolve({ code, ms: Date.now() - this.t0 });
      });
    });
  }
  async finished(timeoutMs: number): Promise<{ code: number | null; ms: number }> {
    const timer = sleep(timeoutMs).then(() => {
      this.killGroup();
      throw new Error(`start-with-monitor did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`);
    });
    return Promise.race([this.done, timer]);
  }
  /** Still running: not exited, and not killed by a signal it was sent. */
  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  /** Kills the wrapper and everything it started; their output pipes would keep the test file from exiting. */
  killGroup(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // Nothing left in the group.
    }
  }
}

async function until(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const t = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > t) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('start-with-monitor.sh is shellcheck clean as POSIX sh', () => {
  requireCommand('shellcheck', 'shellcheck');
  const r = spawnSync('shellcheck', ['-s', 'sh', SCRIPT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout);
});

for (const sh of shells) {
  describe(`start-with-monitor.sh under ${sh.name}`, () => {
    before(() => {
      requireCommand(sh.argv[0] ?? 'sh', sh.pkg);
    });

    function patientAgent(tag: string): { bin: string; log: string; pid: string } {
      const log = join(dir, `${tag}.agent`);
      const pid = join(dir, `${tag}.agentpid`);
      return { bin: script(`${tag}-agent.sh`, agentBody(log, pid)), log, pid };
    }

    it("exits with the main command's exit code and stops the agent", async () => {
      const a = patientAgent(`${sh.name}-rc`.replace(' ', '_'));
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1; exit 7'], { SYSTEM_MONITOR_BIN: a.bin });
      const { code } = await run.finished(10_000);
      assert.equal(code, 7);
      assert.deepEqual(lines(a.log), ['start', 'TERM'], 'the agent was started, then told to stop');
      assert.match(run.stderr, /^\[system-monitor\] agent says hello$/m, 'agent output goes to stderr with a prefix');
    });

    it('a crashing agent is restarted with growing backoff while the main command keeps running', async () => {
      const tag = `${sh.name}-crash`.replace(' ', '_');
      const starts = join(dir, `${tag}.starts`);
      const bin = script(`${tag}-agent.sh`, `date +%s%N >> ${starts}\nexit 3`);
      const mainPid = join(dir, `${tag}.main`);
      const run = new Run(sh.argv, ['sh', '-c', `echo $$ > ${mainPid}; exec sleep 30`], { SYSTEM_MONITOR_BIN: bin });
      await until('three agent starts', 8000, () => lines(starts).length >= 3);
      const t = lines(starts).map((l) => Number(BigInt(l) / 1_000_000n));
      const gap1 = (t[1] ?? 0) - (t[0] ?? 0);
      const gap2 = (t[2] ?? 0) - (t[1] ?? 0);
      // Lower bounds are the backoff; the upper ones leave room for a loaded machine but still tell 1, 2 and 4 s apart.
      assert.ok(gap1 >= 900 && gap1 < 2400, `first restart after ~1 s (${gap1} ms)`);
      assert.ok(gap2 >= 1900 && gap2 < 3400, `second restart after ~2 s (${gap2} ms)`);
      const pid = Number(readFileSync(mainPid, 'utf8'));
      assert.ok(alive(pid), 'the main command is still running');
      // Whole seconds by date(1): a short run that crosses a second boundary reads "1 s".
      assert.match(run.stderr, /agent exited with status 3 after [01] s; restarting in 2 s/);
      run.child.kill('SIGTERM');
      const { code } = await run.finished(8000);
      assert.equal(code, 143, 'sleep killed by the forwarded SIGTERM');
    });

    it('SIGTERM goes to the main command, which decides the exit code; the agent is stopped only after it exits', async () => {
      const tag = `${sh.name}-term`.replace(' ', '_');
      const events = join(dir, `${tag}.events`);
      // One log for both, so the order says who was signalled when.
      const agent = script(`${tag}-agent.sh`, `echo agent-start >> ${events}\ntrap 'echo agent-TERM >> ${events}; exit 0' TERM\nwhile :; do sleep 0.1; done`);
      const main = script(`${tag}-main.sh`, `trap 'echo main-TERM >> ${events}; sleep 1; echo main-exit >> ${events}; exit 0' TERM\necho main-up >> ${events}\nwhile :; do sleep 0.1; done`);
      const run = new Run(sh.argv, [main], { SYSTEM_MONITOR_BIN: agent });
      await until('both started', 5000, () => lines(events).includes('agent-start') && lines(events).includes('main-up'));
      run.child.kill('SIGTERM');
      const { code, ms } = await run.finished(8000);
      assert.equal(code, 0);
      assert.deepEqual(
        lines(events).filter((l) => l.startsWith('main-') || l === 'agent-TERM'),
        ['main-up', 'main-TERM', 'main-exit', 'agent-TERM'],
        'the agent keeps monitoring while the main command shuts down, and gets one TERM after',
      );
      assert.ok(ms < 8000);
    });

    it('SIGINT reaches a main command that handles it; SIGINT and SIGQUIT stop one that would ignore them', async () => {
      const tag = `${sh.name}-int`.replace(' ', '_');
      const a = patientAgent(tag);
      const mainLog = join(dir, `${tag}.mainlog`);
      // Node installs its own SIGINT handler, so it gets the real SIGINT.
      const handler = `require('fs').appendFileSync(${JSON.stringify(mainLog)}, 'up\\n'); process.on('SIGINT', () => { require('fs').appendFileSync(${JSON.stringify(mainLog)}, 'INT\\n'); process.exit(5); }); setInterval(() => {}, 1000);`;
      const run = new Run(sh.argv, [process.execPath, '-e', handler], { SYSTEM_MONITOR_BIN: a.bin });
      await until('node main started', 5000, () => lines(mainLog).length > 0 && lines(a.log).length > 0);
      run.child.kill('SIGINT');
      assert.equal((await run.finished(8000)).code, 5);
      assert.deepEqual(lines(mainLog), ['up', 'INT']);
      assert.deepEqual(lines(a.log), ['start', 'TERM']);

      // `sleep` keeps SIGINT and SIGQUIT ignored as POSIX sh starts background jobs: it gets SIGTERM instead.
      for (const sig of ['SIGINT', 'SIGQUIT'] as const) {
        const b = patientAgent(`${tag}-${sig}`);
        const run2 = new Run(sh.argv, ['sleep', '30'], { SYSTEM_MONITOR_BIN: b.bin });
        await until('agent started', 5000, () => lines(b.log).length > 0);
        run2.child.kill(sig);
        assert.equal((await run2.finished(8000)).code, 143, `${sig} to a main command that ignores it`);
      }
    });

    it('a main command that exits at once: the agent is stopped in time and nothing is left behind', async () => {
      // The stop request reaches the supervisor while it is still starting the agent: it used to start it
      // anyway and never tell it, and the wrapper waited 5 s to kill it (and left the fifo reader behind).
      const tag = `${sh.name}-quick`.replace(' ', '_');
      for (let i = 1; i <= 5; i++) {
        const a = patientAgent(`${tag}-${i}`);
        const run = new Run(sh.argv, ['true'], { SYSTEM_MONITOR_BIN: a.bin });
        const { code, ms } = await run.finished(10_000);
        assert.equal(code, 0);
        assert.ok(ms < 3000, `try ${i}: ${ms} ms`);
        await until(`try ${i}: the wrapper's processes gone`, 2000, () => !alive(-(run.child.pid ?? 0)));
      }
    });

    it('an agent that cannot start at all never stops the main command', async () => {
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1; echo fine; exit 0'], { SYSTEM_MONITOR_BIN: join(dir, 'no-such-agent') });
      const { code } = await run.finished(10_000);
      assert.equal(code, 0);
      assert.match(run.stderr, /agent '.*no-such-agent' not found \(set SYSTEM_MONITOR_BIN\); the main command runs without monitoring/);
    });

    it('SYSTEM_MONITOR_LOG sends agent output to a file instead of stderr', async () => {
      const tag = `${sh.name}-log`.replace(' ', '_');
      const a = patientAgent(tag);
      const logFile = join(dir, `${tag}.log`);
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1'], { SYSTEM_MONITOR_BIN: a.bin, SYSTEM_MONITOR_LOG: logFile });
      assert.equal((await run.finished(10_000)).code, 0);
      assert.match(readFileSync(logFile, 'utf8'), /^agent says hello$/m);
      assert.doesNotMatch(run.stderr, /agent says hello/);
    });

    it('forwards TERM, INT, HUP, QUIT, USR1, USR2 and WINCH to the main command and survives them; the agent runs on', async () => {
      const tag = `${sh.name}-sigs`.replace(' ', '_');
      const a = patientAgent(tag);
      const mainLog = join(dir, `${tag}.mainlog`);
      // Node, not sh: a non-interactive sh cannot trap the INT and QUIT its parent shell made it ignore.
      const mainJs = join(dir, `${tag}-main.cjs`);
      writeFileSync(
        mainJs,
        `const fs = require('fs');
const log = (l) => fs.appendFileSync(${JSON.stringify(mainLog)}, l + '\\n');
for (const s of ['SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']) process.on(s, () => log(s.slice(3)));
process.on('SIGTERM', () => { log('TERM'); process.exit(42); });
log('up');
setInterval(() => {}, 1000);`,
      );
      const run = new Run(sh.argv, [process.execPath, mainJs], { SYSTEM_MONITOR_BIN: a.bin });
      await until('main and agent started', 5000, () => lines(mainLog).includes('up') && lines(a.log).includes('start'));
      const agentPid = Number(readFileSync(a.pid, 'utf8'));
      const sent = ['INT', 'HUP', 'QUIT', 'USR1', 'USR2', 'WINCH'] as const;
      for (const sig of sent) {
        run.child.kill(`SIG${sig}`);
        await until(`${sig} at the main command`, 5000, () => lines(mainLog).includes(sig));
        assert.ok(run.running(), `the wrapper survives ${sig}`);
        assert.ok(alive(agentPid), `the agent still runs after ${sig}`);
        assert.deepEqual(lines(a.log), ['start'], `the agent was not stopped by ${sig}`);
      }
      run.child.kill('SIGTERM');
      const { code } = await run.finished(8000);
      assert.equal(code, 42, "the main command's exit code");
      assert.deepEqual(lines(mainLog), ['up', ...sent, 'TERM']);
      assert.deepEqual(lines(a.log), ['start', 'TERM'], 'one TERM for the agent, after the main command exited');
    });

    it('exits 128+n when signal n kills the main command, a forwarded one included', async () => {
      const killed = new Run(sh.argv, ['sh', '-c', 'kill -KILL $$'], { SYSTEM_MONITOR_DISABLE: '1' });
      assert.equal((await killed.finished(8000)).code, 137);

      const tag = `${sh.name}-usr1`.replace(' ', '_');
      const a = patientAgent(tag);
      const mainPid = join(dir, `${tag}.main`);
      const run = new Run(sh.argv, ['sh', '-c', `echo $$ > ${mainPid}; exec sleep 30`], { SYSTEM_MONITOR_BIN: a.bin });
      await until('main and agent started', 5000, () => lines(mainPid).length > 0 && lines(a.log).length > 0);
      // sleep keeps the default action for SIGUSR1: it dies of it, the wrapper does not.
      run.child.kill('SIGUSR1');
      assert.equal((await run.finished(8000)).code, 128 + 10);
      assert.deepEqual(lines(a.log), ['start', 'TERM']);
    });

    it("gives the main command the wrapper's stdin, and no child the descriptor that carried it", async () => {
      const tag = `${sh.name}-stdin`.replace(' ', '_');
      const a = patientAgent(tag);
      const agentFds = join(dir, `${tag}.agentfds`);
      const agent = script(`${tag}-fds-agent.sh`, `ls /proc/$$/fd > ${agentFds}\nexec ${a.bin}`);
      const mainFds = join(dir, `${tag}.mainfds`);
      const run = new Run(sh.argv, ['sh', '-c', `ls /proc/$$/fd > ${mainFds}; exec cat`], { SYSTEM_MONITOR_BIN: agent }, { pipes: true });
      await until('main and agent started', 5000, () => lines(mainFds).includes('0') && lines(a.log).length > 0);
      assert.ok(!lines(mainFds).includes('9'), `main command's descriptors: ${lines(mainFds).join(' ')}`);
      assert.ok(!lines(agentFds).includes('9'), `agent's descriptors: ${lines(agentFds).join(' ')}`);
      const wrapperFds = `/proc/${run.child.pid ?? 0}/fd`;
      // Only the main command holds stdin, so its closing it is what a writer sees.
      await until('the wrapper let go of stdin', 5000, () => !readdirSync(wrapperFds).includes('9') && readlinkSync(join(wrapperFds, '0')) === '/dev/null');
      run.child.stdin?.end('hello\nworld\n');
      const { code } = await run.finished(8000);
      assert.equal(code, 0);
      assert.equal(run.stdout, 'hello\nworld\n');
      assert.deepEqual(lines(a.log), ['start', 'TERM']);
    });

    it('without a writable temporary directory the agent still runs, its output unprefixed', async () => {
      const a = patientAgent(`${sh.name}-rotmp`.replace(' ', '_'));
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1; exit 7'], { SYSTEM_MONITOR_BIN: a.bin, TMPDIR: '/nonexistent/tmp' });
      const { code } = await run.finished(10_000);
      assert.equal(code, 7);
      assert.deepEqual(lines(a.log), ['start', 'TERM'], 'the agent was started, then told to stop');
      assert.match(run.stderr, /cannot create a temporary directory in \/nonexistent\/tmp; the agent runs with its output unprefixed on stderr/);
      assert.match(run.stderr, /^agent says hello$/m);
    });

    /** A release directory: the wrapper with a system-monitor stand-in beside it. */
    function release(tag: string): { script: string; log: string } {
      const rel = join(dir, `${tag}-release`);
      mkdirSync(rel);
      copyFileSync(SCRIPT, join(rel, 'start-with-monitor.sh'));
      const log = join(dir, `${tag}.beside`);
      script(join(`${tag}-release`, 'system-monitor'), agentBody(log, join(dir, `${tag}.besidepid`)));
      return { script: join(rel, 'start-with-monitor.sh'), log };
    }

    /** A PATH directory holding a system-monitor stand-in. */
    function onPath(tag: string): { path: string; log: string } {
      const bin = join(dir, `${tag}-path`);
      mkdirSync(bin);
      const log = join(dir, `${tag}.onpath`);
      script(join(`${tag}-path`, 'system-monitor'), agentBody(log, join(dir, `${tag}.onpathpid`)));
      return { path: `${bin}:${process.env.PATH ?? ''}`, log };
    }

    it('runs the system-monitor beside itself when SYSTEM_MONITOR_BIN is unset', async () => {
      const path = process.env.PATH ?? '';
      assert.notEqual(spawnSync('sh', ['-c', 'command -v system-monitor'], { env: { PATH: path } }).status, 0, 'no system-monitor on PATH for this test');
      const rel = release(`${sh.name}-beside`.replace(' ', '_'));
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1; exit 3'], { PATH: path }, { script: rel.script });
      assert.equal((await run.finished(10_000)).code, 3);
      assert.deepEqual(lines(rel.log), ['start', 'TERM']);
    });

    it('prefers the system-monitor beside itself to one on PATH', async () => {
      const tag = `${sh.name}-beside-path`.replace(' ', '_');
      const rel = release(tag);
      const other = onPath(tag);
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1; exit 3'], { PATH: other.path }, { script: rel.script });
      assert.equal((await run.finished(10_000)).code, 3);
      assert.deepEqual(lines(rel.log), ['start', 'TERM']);
      assert.deepEqual(lines(other.log), [], 'the one on PATH never ran');
    });

    it('falls back to PATH, and names both places when neither has the agent', async () => {
      const tag = `${sh.name}-path`.replace(' ', '_');
      const alone = join(dir, `${tag}-alone`);
      mkdirSync(alone);
      const wrapper = join(alone, 'start-with-monitor.sh');
      copyFileSync(SCRIPT, wrapper);
      const other = onPath(tag);
      const run = new Run(sh.argv, ['sh', '-c', 'sleep 1; exit 3'], { PATH: other.path }, { script: wrapper });
      assert.equal((await run.finished(10_000)).code, 3);
      assert.deepEqual(lines(other.log), ['start', 'TERM']);

      const none = new Run(sh.argv, ['sh', '-c', 'sleep 1; exit 4'], {}, { script: wrapper });
      assert.equal((await none.finished(10_000)).code, 4);
      assert.ok(
        none.stderr.includes(`agent not found: no executable ${alone}/system-monitor and no system-monitor on PATH (set SYSTEM_MONITOR_BIN)`),
        none.stderr,
      );
    });
  });
}

describe('start-with-monitor.sh with the real agent', () => {
  let server: RedisServer;
  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
  });
  after(async () => {
    await server.stop();
  });

  it('the agent publishes beside the main command and writes "exited" when the container stops', async () => {
    const bin = script('real-agent.sh', `cd ${REPO} && exec ${process.execPath} --import tsx agent/src/main.ts`);
    const run = new Run(['dash'], ['sleep', '60'], {
      SYSTEM_MONITOR_BIN: bin,
      SYSTEM_MONITOR_LOG: join(dir, 'real-agent.log'),
      CONTAINER_NAME: 'swm-real',
      INTERVAL_SECONDS: '1',
      VALKEY_URL: `redis://127.0.0.1:${server.port}`,
      ...fixtureEnv('docker-v2'),
    });
    const r = new Redis({ port: server.port, host: '127.0.0.1' });
    try {
      await until('a running sample', 20_000, () => existsSync(join(dir, 'real-agent.log')) && readFileSync(join(dir, 'real-agent.log'), 'utf8').includes('Valkey connected'));
      let sample = null;
      for (let i = 0; i < 60 && sample === null; i++) {
        const raw = await r.get(metricsKey('swm-real'));
        if (raw !== null) sample = payloadSchema.parse(JSON.parse(raw));
        else await sleep(100);
      }
      assert.equal(sample?.status, 'running');
      run.child.kill('SIGTERM');
      const { code } = await run.finished(10_000);
      assert.equal(code, 143);
      const final = payloadSchema.parse(JSON.parse((await r.get(metricsKey('swm-real'))) ?? '{}'));
      assert.equal(final.status, 'exited', `the agent's log:\n${readFileSync(join(dir, 'real-agent.log'), 'utf8')}`);
    } finally {
      r.disconnect();
    }
  });
});
