import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import { ParseError } from '../cgroup/values.js';
import { parseAuxvPageSize, parseLoadavg, parsePidStat, parseStatState, parseUptime } from './parse-pid-stat.js';

/** A stat line with the given values at fields 3, 14, 15, 20, 22 and 24 (proc(5) numbering). */
function statLine(pid: number, comm: string, f: { state: string; utime: number; stime: number; threads: number; start: number; rss: number }): string {
  const fields: (string | number)[] = [pid, `(${comm})`];
  for (let n = 3; n <= 52; n++) fields.push(n);
  const set = (n: number, v: string | number): void => {
    fields[n - 1] = v;
  };
  set(3, f.state);
  set(14, f.utime);
  set(15, f.stime);
  set(20, f.threads);
  set(22, f.start);
  set(24, f.rss);
  return `${fields.join(' ')}\n`;
}

describe('parsePidStat', () => {
  it('reads state, utime, stime, num_threads, starttime and rss by proc(5) field number', () => {
    const s = parsePidStat(statLine(42, 'node', { state: 'S', utime: 250, stime: 50, threads: 11, start: 1_000_000, rss: 30_000 }));
    assert.deepEqual(s, { pid: 42, comm: 'node', state: 'S', utime: 250, stime: 50, numThreads: 11, starttime: 1_000_000, rssPages: 30_000 });
  });

  it('a comm with spaces and parentheses ends at the last ")"', () => {
    const s = parsePidStat(statLine(7, 'my (weird) proc', { state: 'R', utime: 3, stime: 4, threads: 2, start: 99, rss: 5 }));
    assert.equal(s.comm, 'my (weird) proc');
    assert.equal(s.state, 'R');
    assert.equal(s.utime, 3);
    assert.equal(s.starttime, 99);
    const tricky = parsePidStat(statLine(8, ') S 1 2 3 (', { state: 'D', utime: 1, stime: 2, threads: 1, start: 5, rss: 6 }));
    assert.equal(tricky.comm, ') S 1 2 3 (');
    assert.equal(tricky.state, 'D');
    assert.equal(tricky.rssPages, 6);
  });

  it('reads a real line of this process', () => {
    const s = parsePidStat(readFileSync('/proc/self/stat', 'utf8'), '/proc/self/stat');
    assert.ok(s.numThreads >= 1);
    assert.ok(s.rssPages > 0);
    assert.equal(s.state, 'R', 'the reading thread is running');
  });

  it('refuses truncated or malformed lines, naming the file and field', () => {
    assert.throws(() => parsePidStat('12 (sh) S 1 2 3', '/proc/12/stat'), (e: unknown) => e instanceof ParseError && /\/proc\/12\/stat: only 6 fields, field \d+ missing/.test(e.message));
    assert.throws(() => parsePidStat('12 sh S 1 2 3'), /no "\(comm\)"/);
    assert.throws(() => parsePidStat(statLine(1, 'x', { state: 'S', utime: -5, stime: 0, threads: 1, start: 1, rss: 1 })), /field 14: negative/);
    assert.throws(() => parsePidStat(statLine(1, 'x', { state: '?', utime: 0, stime: 0, threads: 1, start: 1, rss: 1 })), /bad state/);
  });

  it('a negative rss (signed in the kernel) reads as 0', () => {
    assert.equal(parsePidStat(statLine(1, 'x', { state: 'S', utime: 0, stime: 0, threads: 1, start: 1, rss: -1 })).rssPages, 0);
  });
});

describe('parseStatState', () => {
  it('takes the letter after the last ")"', () => {
    assert.equal(parseStatState(statLine(9, 'a) R (b', { state: 'D', utime: 0, stime: 0, threads: 1, start: 1, rss: 1 })), 'D');
    assert.throws(() => parseStatState('9 (x)'), /no state/);
    assert.throws(() => parseStatState('garbage'), /no state/);
  });
});

describe('parseLoadavg and parseUptime', () => {
  it('loadavg', () => {
    assert.deepEqual(parseLoadavg('0.52 0.58 0.59 2/345 12345\n'), { load1: 0.52, load5: 0.58, load15: 0.59, running: 2, total: 345 });
    assert.throws(() => parseLoadavg('0.52 0.58\n'), /\/proc\/loadavg/);
  });

  it('uptime', () => {
    assert.deepEqual(parseUptime('12345.67 24000.00\n'), { uptime: 12345.67, idle: 24000 });
    assert.throws(() => parseUptime('soon\n'), /\/proc\/uptime/);
  });

  it('the real files parse', () => {
    assert.ok(parseUptime(readFileSync('/proc/uptime', 'utf8')).uptime > 0);
    assert.ok(parseLoadavg(readFileSync('/proc/loadavg', 'utf8')).total > 0);
  });
});

describe('parseAuxvPageSize', () => {
  function auxv(pairs: [number, number][], wordBytes: 4 | 8, le: boolean): Uint8Array {
    const buf = new DataView(new ArrayBuffer(pairs.length * 2 * wordBytes));
    pairs.forEach(([t, v], i) => {
      const off = i * 2 * wordBytes;
      if (wordBytes === 8) {
        buf.setBigUint64(off, BigInt(t), le);
        buf.setBigUint64(off + 8, BigInt(v), le);
      } else {
        buf.setUint32(off, t, le);
        buf.setUint32(off + 4, v, le);
      }
    });
    return new Uint8Array(buf.buffer);
  }

  it('finds AT_PAGESZ (6) among other entries, in both word sizes and byte orders', () => {
    const pairs: [number, number][] = [
      [33, 0x7ffd0000],
      [16, 0xbfebfbff],
      [6, 65536],
      [17, 100],
      [0, 0],
    ];
    for (const wb of [4, 8] as const) for (const le of [true, false]) assert.equal(parseAuxvPageSize(auxv(pairs, wb, le), wb, le), 65536, `${wb}-byte ${le ? 'LE' : 'BE'}`);
  });

  it('stops at AT_NULL and returns null without AT_PAGESZ', () => {
    assert.equal(parseAuxvPageSize(auxv([[0, 0], [6, 4096]], 8, true), 8, true), null);
    assert.equal(parseAuxvPageSize(auxv([[3, 1]], 8, true), 8, true), null);
    assert.equal(parseAuxvPageSize(new Uint8Array(0), 8, true), null);
  });

  it('agrees with the real /proc/self/auxv of this process', () => {
    const size = parseAuxvPageSize(readFileSync('/proc/self/auxv'), 8, endianness() === 'LE');
    assert.ok(size !== null && [4096, 16384, 65536].includes(size), `page size ${size}`);
  });
});
