import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { fdCountMethod } from '../src/collectors/processes-fds.js';
import { createProcessesCollector } from '../src/collectors/processes.js';
import { compilePidStatsSource, loadNativePidStats, pidStatsLibraryPath, type NativePidStats } from '../src/procfs/native-pid-stats.js';
import { PS, PS_COMM_SLOT, PS_FIELDS, PS_NOT_KERNEL_LAYOUT } from '../src/procfs/pid-stats-layout.js';
import { parsePidStat, type PidStat } from '../src/procfs/parse-pid-stat.js';
import type { ProcessesBlock } from '../../shared/src/payload.js';
import { testEnv } from './helpers/env.js';
import { RecordingReport } from './helpers/report.js';
import { settledSleeper } from './helpers/sleeper.js';
import { fixedTick } from './helpers/tick.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = join(REPO, 'agent/native/pid-stats.c');

let native: NativePidStats;
before(async () => {
  native = await loadNativePidStats(compilePidStatsSource(SOURCE));
});

/** The C parser's answer for one line: null when it leaves the line to JavaScript. */
function nativeParse(line: Uint8Array): (Omit<PidStat, 'pid'> & { status: number }) | { status: number } {
  const row = new Float64Array(PS_FIELDS);
  const comm = new Uint8Array(PS_COMM_SLOT);
  const status = native.parse(line, line.length, row, comm);
  assert.equal(status, row[PS.STATUS]);
  if (status !== 0) return { status };
  return {
    status,
    comm: Buffer.from(comm.buffer, 0, row[PS.COMM_LEN]).toString('utf8'),
    state: String.fromCharCode(row[PS.STATE] ?? 0),
    utime: row[PS.UTIME] ?? -1,
    stime: row[PS.STIME] ?? -1,
    numThreads: row[PS.THREADS] ?? -1,
    starttime: row[PS.START] ?? -1,
    rssPages: row[PS.RSS] ?? -1,
  };
}

function jsParse(line: Uint8Array): Omit<PidStat, 'pid'> | null {
  try {
    const st: Partial<PidStat> = parsePidStat(Buffer.from(line).toString('utf8'));
    delete st.pid;
    return st as Omit<PidStat, 'pid'>;
  } catch {
    return null;
  }
}

describe('the native stat-line parser gives what the JavaScript parser gives', () => {
  it('for every process and thread on this machine, and takes every one of them', () => {
    let lines = 0;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue; // exited while listed
      }
      for (const path of [`/proc/${pid}/stat`, ...tids.map((t) => `/proc/${pid}/task/${t}/stat`)]) {
        let line: Buffer;
        try {
          line = readFileSync(path);
        } catch {
          continue;
        }
        const expected = jsParse(line);
        assert.notEqual(expected, null, `${path} parses in JavaScript`);
        assert.deepEqual(nativeParse(line), { status: 0, ...expected }, path);
        lines++;
      }
    }
    assert.ok(lines > 20, `read ${lines} stat lines`);
  });

  it('for generated lines: whatever it takes, it reads as JavaScript does; every line in the kernel layout it takes', () => {
    const digits = (min: number, max: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
    // comm bytes: parentheses, spaces, a newline, invalid and multi-byte UTF-8, a byte-order mark.
    const commByte = fc.oneof(
      fc.constantFrom([0x28], [0x29], [0x20], [0x0a], [0xff], [0xef, 0xbb, 0xbf], [0xc3, 0xa9], [0xe2, 0x82]),
      fc.integer({ min: 0x21, max: 0x7e }).map((b) => [b]),
    );
    const field = fc.record({
      value: fc.oneof({ weight: 6, arbitrary: digits(1, 15) }, digits(16, 20), fc.constantFrom('-1', '-12', '', 'x', '1x', '-')),
      sep: fc.oneof({ weight: 9, arbitrary: fc.constant(' ') }, fc.constantFrom('  ', '\t', '\n')),
    });
    const line = fc.record({
      pid: fc.oneof({ weight: 5, arbitrary: digits(1, 7) }, fc.constantFrom('', 'x1', ' 12', '1234567890123456')),
      comm: fc.array(commByte, { maxLength: 70 }).map((bs) => bs.flat()),
      afterComm: fc.oneof({ weight: 8, arbitrary: fc.constant(' ') }, fc.constantFrom('', '  ')),
      state: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('S', 'R', 'D', 'Z', 'I', 't') }, fc.constantFrom('1', '', 'SS', '-')),
      fields: fc.array(field, { minLength: 19, maxLength: 30 }),
      end: fc.constantFrom('\n', '', ' \n'),
    });
    fc.assert(
      fc.property(line, (l) => {
        const text = Buffer.concat([
          Buffer.from(`${l.pid} (`),
          Buffer.from(l.comm),
          Buffer.from(`)${l.afterComm}${l.state}`),
          Buffer.from(l.fields.map((f) => `${f.sep}${f.value}`).join('')),
          Buffer.from(l.end),
        ]);
        const got = nativeParse(text);
        const expected = jsParse(text);
        if (got.status === 0) {
          assert.notEqual(expected, null, 'a line the native parser takes parses in JavaScript');
          assert.deepEqual(got, { status: 0, ...expected });
        } else {
          assert.equal(got.status, PS_NOT_KERNEL_LAYOUT);
        }
        // The kernel's layout: what the native parser must take.
        const used = [14, 15, 20, 22, 24].map((n) => l.fields[n - 4]);
        const kernelLayout =
          /^\d{1,7}$/.test(l.pid) &&
          l.comm.length <= PS_COMM_SLOT &&
          l.afterComm === ' ' &&
          /^[A-Za-z]$/.test(l.state) &&
          l.fields.slice(0, 21).every((f) => f.sep === ' ' && !f.value.includes('\n')) &&
          (l.fields[21]?.sep ?? ' ') === ' ' &&
          used.every((f, k) => f !== undefined && (/^\d{1,15}$/.test(f.value) || (k === 4 && /^-\d{1,15}$/.test(f.value))));
        if (kernelLayout) assert.equal(got.status, 0, `a kernel-layout line is taken: ${JSON.stringify(text.toString('latin1'))}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a negative rss as 0, and leaves a line with a too long number, a two-space gap or no state to JavaScript', () => {
    const f = (rss: string, utime = '5'): string => `42 (a b) S 1 42 42 0 -1 4194560 10 0 0 0 ${utime} 7 0 0 20 0 3 0 900 1000 ${rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
    assert.deepEqual(nativeParse(Buffer.from(f('-3'))), { status: 0, comm: 'a b', state: 'S', utime: 5, stime: 7, numThreads: 3, starttime: 900, rssPages: 0 });
    assert.equal(nativeParse(Buffer.from(f('12', '1234567890123456'))).status, PS_NOT_KERNEL_LAYOUT);
    assert.equal(nativeParse(Buffer.from(f('12').replace(' 7 ', '  7 '))).status, PS_NOT_KERNEL_LAYOUT);
    assert.equal(nativeParse(Buffer.from('42 (a b)\n')).status, PS_NOT_KERNEL_LAYOUT);
    assert.equal(nativeParse(Buffer.alloc(0)).status, PS_NOT_KERNEL_LAYOUT);
  });
});

describe('the native batch read of kept descriptors', () => {
  it('gives each process its stat fields and fd count, EBADF for one not kept, ESRCH once it has exited', async () => {
    assert.equal(fdCountMethod('/proc'), 'stat', 'this test needs Linux 6.2 or later (the fd directory size is the count)');
    const EXTRA = [0, 3, 7];
    const kids = await Promise.all(EXTRA.map((n) => settledSleeper(n)));
    const fdsOpened: number[] = [];
    try {
      const statFds = new Int32Array(kids.length + 1);
      const dirFds = new Int32Array(kids.length + 1);
      kids.forEach((k, i) => {
        statFds[i] = openSync(`/proc/${k.pid}/stat`, 'r');
        dirFds[i] = openSync(`/proc/${k.pid}/fd`, constants.O_RDONLY | constants.O_DIRECTORY);
        fdsOpened.push(statFds[i] ?? -1, dirFds[i] ?? -1);
      });
      statFds[kids.length] = -1;
      dirFds[kids.length] = -1;
      const rows = new Float64Array((kids.length + 1) * PS_FIELDS);
      const comms = new Uint8Array((kids.length + 1) * PS_COMM_SLOT);
      assert.equal(native.read(kids.length + 1, statFds, dirFds, rows, comms), kids.length);
      kids.forEach((k, i) => {
        const r = i * PS_FIELDS;
        const js = parsePidStat(readFileSync(`/proc/${k.pid}/stat`, 'utf8'));
        assert.equal(rows[r + PS.STATUS], 0);
        assert.equal(String.fromCharCode(rows[r + PS.STATE] ?? 0), js.state);
        assert.equal(rows[r + PS.THREADS], js.numThreads);
        assert.equal(rows[r + PS.START], js.starttime);
        assert.equal(rows[r + PS.RSS], js.rssPages);
        assert.equal((rows[r + PS.UTIME] ?? 0) + (rows[r + PS.STIME] ?? 0), js.utime + js.stime);
        assert.equal(Buffer.from(comms.buffer, i * PS_COMM_SLOT, rows[r + PS.COMM_LEN]).toString(), 'sleep');
        // Counted by listing the directory, and by the files each was given beyond the first's.
        assert.equal(rows[r + PS.FDS], readdirSync(`/proc/${k.pid}/fd`).length);
        assert.equal((rows[r + PS.FDS] ?? 0) - (rows[PS.FDS] ?? 0), EXTRA[i]);
      });
      assert.equal(rows[kids.length * PS_FIELDS + PS.STATUS], osConstants.errno.EBADF);

      const gone = kids[1];
      assert.ok(gone);
      const exited = new Promise((r) => gone.once('exit', r));
      gone.kill('SIGKILL');
      await exited;
      native.read(kids.length, statFds, dirFds, rows, comms);
      assert.equal(rows[PS_FIELDS + PS.STATUS], osConstants.errno.ESRCH, 'the exited process');
      assert.equal(rows[PS.STATUS], 0, 'the others still read');
      assert.equal(rows[2 * PS_FIELDS + PS.STATUS], 0);
      // Its fd directory is not looked at once its stat line failed: the agent reads that process again by path.
      assert.equal(rows[PS_FIELDS + PS.FDS], -1);
    } finally {
      for (const fd of fdsOpened) closeSync(fd);
      for (const k of kids) k.kill('SIGKILL');
    }
  });
});

/** Waits until a process's thread count is the same in three reads 200 ms apart (its start-up threads are made). */
async function settledThreads(pid: number): Promise<void> {
  const threads = (): number => parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).numThreads;
  let same = 0;
  for (let i = 0, last = -1; i < 100 && same < 3; i++) {
    await delay(200);
    const now = threads();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  assert.ok(same >= 3 && threads() > 2, `process ${pid} settled with ${threads()} threads`);
}

describe('the processes collector with the native reader', () => {
  it('publishes what the JavaScript reader publishes for the same processes, including busy ones and one that exits', async () => {
    // dash redirects single-digit descriptors only: at most 7 beyond stdio.
    const extra = [0, 1, 2, 5, 7];
    const kids: ChildProcess[] = await Promise.all(extra.map((n) => settledSleeper(n)));
    // One busy in user mode, one in the kernel (one-byte copies): both halves of the CPU time count.
    const busy = [spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }), spawn('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1'], { stdio: 'ignore' })];
    // A process of several threads, so the thread count and the per-thread load reads see more than one.
    const threaded = spawn(process.execPath, ['-e', "const { Worker } = require('node:worker_threads'); for (let i = 0; i < 2; i++) new Worker('setInterval(() => {}, 1e6)', { eval: true }); setInterval(() => {}, 1e6);"], { stdio: 'ignore' });
    kids.push(...busy, threaded);
    try {
      await Promise.all([...busy, threaded].map((b) => once(b, 'spawn')));
      await settledThreads(threaded.pid ?? 0);
      const pids = kids.map((k) => k.pid ?? 0);
      const env = testEnv({ procRoot: '/proc', clock: () => process.hrtime.bigint(), minRateDeltaNs: 0n });
      // Files kept for 3 of the 8 processes only: the rest are read by path each tick, between the native rows.
      const withNative = createProcessesCollector(env, { native, keepPidFiles: true, pageSize: 4096, maxKeptProcesses: 3 });
      const withJs = createProcessesCollector(env, { keepPidFiles: true, pageSize: 4096 });
      const tick = fixedTick({ pids });
      /** Both blocks, their `top` cores compared apart: the two read the busy processes microseconds apart. */
      const both = async (what: string): Promise<ProcessesBlock> => {
        await delay(400);
        const a = new RecordingReport();
        const b = new RecordingReport();
        const viaNative = withNative.collect(tick, a);
        const viaJs = withJs.collect(tick, b);
        assert.deepEqual(a.failedFields, b.failedFields, what);
        // Two busy processes with nearly equal cores may rank either way: compared by pid.
        const byPid = (blk: ProcessesBlock): ProcessesBlock['top'] => [...blk.top].sort((x, y) => x.pid - y.pid);
        const cores = (blk: ProcessesBlock): (number | null)[] => byPid(blk).map((t) => t.cores);
        const without = (blk: ProcessesBlock): unknown => ({ ...blk, load_average: null, top: byPid(blk).map((t) => ({ ...t, cores: null })) });
        assert.deepEqual(without(viaNative), without(viaJs), what);
        cores(viaNative).forEach((c, i) => {
          const j = cores(viaJs)[i] ?? null;
          assert.ok(c === j || (c !== null && j !== null && Math.abs(c - j) < 0.1), `${what}: top ${i} cores ${c} against ${j}`);
        });
        return viaNative;
      };
      // The first tick opens and keeps the files (no native read yet); the next ones read through the native call.
      for (let i = 0; i < 3; i++) await both(`tick ${i + 1}`);
      const block = await both('tick 4');
      const listed = pids.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).length, 0);
      assert.equal(block.fds, listed, 'the fd directories, listed');
      for (const b of busy) {
        const t = block.top.find((p) => p.pid === b.pid);
        assert.ok(t !== undefined && t.cores !== null && t.cores > 0.3, `busy ${b.pid} in top with its CPU: ${JSON.stringify(block.top)}`);
      }
      const gone = kids[2];
      assert.ok(gone);
      const exited = once(gone, 'exit');
      gone.kill('SIGKILL');
      await exited;
      const after = await both('after one exited');
      assert.equal(after.fds_unreadable_pids, 1);
      assert.equal(after.count, kids.length);
      // Its kept files went to the next process listed: that one now reads natively after a row-less one.
      const next = await both('the next tick');
      assert.equal(next.fds_unreadable_pids, 1);
      withNative.close?.();
      withJs.close?.();
    } finally {
      for (const k of kids) k.kill('SIGKILL');
    }
  });
});

describe('finding and loading the library', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pid-stats-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const never = (): string => {
    throw new Error('not compiled here');
  };

  it("takes the release's lib/ copy only when nobody else can have replaced it", () => {
    mkdirSync(join(dir, 'lib'), { recursive: true });
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'lib'), 0o755);
    const file = join(dir, 'lib', 'system-monitor-pid-stats.so');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    assert.equal(pidStatsLibraryPath({ releaseHome: dir, script: undefined, exists: () => false, compile: never }), file);
    chmodSync(file, 0o666);
    assert.throws(() => pidStatsLibraryPath({ releaseHome: dir, script: undefined, exists: () => false, compile: never }), /writable by everyone/);
  });

  it('beside the bundle, or compiled from the checkout when running from TypeScript; says what to do otherwise', () => {
    assert.equal(pidStatsLibraryPath({ releaseHome: null, script: '/x/dist/agent.cjs', exists: (p) => p === '/x/dist/system-monitor-pid-stats.so', compile: never }), '/x/dist/system-monitor-pid-stats.so');
    assert.equal(pidStatsLibraryPath({ releaseHome: null, script: '/r/agent/src/main.ts', exists: () => false, compile: (s) => `built:${s}` }), 'built:/r/agent/native/pid-stats.c');
    assert.throws(() => pidStatsLibraryPath({ releaseHome: null, script: '/x/dist/agent.cjs', exists: () => false, compile: never }), /missing: it is built with the agent \(npm run build\)/);
  });

  it('refuses a library with another row layout, naming both', async () => {
    const src = join(dir, 'other.c');
    writeFileSync(src, 'int sm_pid_stats_abi(void) { return 7; }\nint sm_pid_stats_fields(void) { return 12; }\nint sm_pid_stats_comm_slot(void) { return 64; }\n');
    const so = join(dir, 'other.so');
    execFileSync('cc', ['-shared', '-fPIC', '-o', so, src]);
    await assert.rejects(loadNativePidStats(so), /row layout 7 \(12 fields, comm 64 bytes\), this agent reads layout 1 \(10, 64\)/);
  });

  it('says which file could not be loaded', async () => {
    await assert.rejects(loadNativePidStats(join(dir, 'absent.so')), /absent\.so/);
  });
});
