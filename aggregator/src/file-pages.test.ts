import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deflateSync, inflateSync } from 'node:zlib';
import { pino } from 'pino';
import { releaseFilePages, releaseFilePagesWhenReady, type FilePageRelease } from './file-pages.js';

function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? NaN);
}

/** A logger whose lines are kept, to check what was said. */
function memoryLog(): { log: pino.Logger; lines: () => { level: number; msg: string }[] } {
  const out: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => out.push(s) });
  return { log, lines: () => out.map((s) => JSON.parse(s) as { level: number; msg: string }) };
}

const ONE: FilePageRelease = { mappings: 1, releasedKb: 4, failed: 0, ms: 0.1 };

describe('releaseFilePages', { skip: process.platform !== 'linux' }, () => {
  it("drops this process's resident file pages, which fault back in as they are used", async () => {
    const fileBefore = statusKb('RssFile');
    const r = await releaseFilePages();
    assert.ok(r !== null, 'libc opened through koffi');
    const fileAfter = statusKb('RssFile');
    assert.equal(r.failed, 0);
    // The test process (Node, tsx, the sources' compile paths) maps tens of MB of its binary.
    assert.ok(fileBefore - fileAfter > 2048, `RssFile ${fileBefore} → ${fileAfter} kB`);
    assert.ok(r.releasedKb >= fileBefore - fileAfter, `reported ${r.releasedKb} kB, RssFile fell by ${fileBefore - fileAfter} kB`);
    // Still running, with the same code: JSON and zlib (native code in Node's binary) touch dropped pages again.
    const text = JSON.stringify({ a: [1, 'x'], b: 'y'.repeat(1000) });
    assert.equal(inflateSync(deflateSync(text)).toString(), text);
  });

  it('does nothing and answers null when libc cannot be opened', async () => {
    const r = await releaseFilePages(() => Promise.reject(new Error('no koffi here')));
    assert.equal(r, null);
  });

  it('counts a madvise that fails, and the pages of that mapping are not counted as released', async () => {
    const r = await releaseFilePages(() => Promise.resolve({ madvise: () => -1 }));
    assert.ok(r !== null);
    assert.ok(r.mappings > 0);
    assert.equal(r.failed, r.mappings);
    assert.equal(r.releasedKb, 0);
  });
});

describe('releaseFilePagesWhenReady', () => {
  it('waits for ready, then releases once after the delay, and logs the result', async () => {
    let ready = false;
    let calls = 0;
    const { log, lines } = memoryLog();
    const s = releaseFilePagesWhenReady(() => ready, log, {
      delayMs: 40,
      checkMs: 5,
      release: () => {
        calls += 1;
        return Promise.resolve(ONE);
      },
    });
    await sleep(60);
    assert.equal(calls, 0, 'not before ready');
    ready = true;
    const readyAt = performance.now();
    assert.deepEqual(await s.done, ONE);
    assert.ok(performance.now() - readyAt >= 35, 'the delay counts from ready');
    await sleep(60);
    assert.equal(calls, 1);
    assert.ok(lines().some((l) => l.msg === 'start-up file pages released' && l.level === 30));
    s.stop();
  });

  it('says so at debug when libc could not be opened, at warn when the release throws', async () => {
    const a = memoryLog();
    const sa = releaseFilePagesWhenReady(() => true, a.log, { delayMs: 1, release: () => Promise.resolve(null) });
    assert.equal(await sa.done, null);
    assert.ok(a.lines().some((l) => l.level === 20 && l.msg.startsWith('start-up file pages kept')));
    const b = memoryLog();
    const sb = releaseFilePagesWhenReady(() => true, b.log, { delayMs: 1, release: () => Promise.reject(new Error('EPERM')) });
    assert.equal(await sb.done, null);
    assert.ok(b.lines().some((l) => l.level === 40 && l.msg.startsWith('start-up file pages kept: the release failed')));
  });

  it('stopped before ready, it never releases', async () => {
    let calls = 0;
    const { log } = memoryLog();
    let ready = false;
    const s = releaseFilePagesWhenReady(() => ready, log, {
      delayMs: 1,
      checkMs: 5,
      release: () => {
        calls += 1;
        return Promise.resolve(ONE);
      },
    });
    s.stop();
    assert.equal(await s.done, null);
    ready = true;
    await sleep(40);
    assert.equal(calls, 0);
  });
});
