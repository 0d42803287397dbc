import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { droppable, parseSmaps, releaseStartupPages } from './release-pages.js';

/** Four mappings as the kernel prints them: .text, RELRO (written, then read-only), .data, a heap. */
const SMAPS = `00400000-0082f000 r-xp 00000000 fe:00 5341663                            /opt/system-monitor
Size:               4284 kB
Rss:                3196 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
0732a000-0735e000 r--p 06f29000 fe:00 5341663                            /opt/system-monitor
Size:                208 kB
Rss:                 120 kB
Anonymous:            20 kB
0735e000-0738a000 rw-p 06f5d000 fe:00 5341663                            /opt/system-monitor
Size:                176 kB
Rss:                 176 kB
Anonymous:           160 kB
2db53000-2e1d6000 rw-p 00000000 00:00 0                                  [heap]
Rss:                6524 kB
Anonymous:          6524 kB
7fde56244000-7fde5639a000 r-xp 00026000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1112 kB
Anonymous:             0 kB
7fde56400000-7fde56499000 r--s 00000000 fe:00 339903                     /dev/shm/x
Rss:                  12 kB
Anonymous:             0 kB
7fde56500000-7fde56501000 r--p 00000000 fe:00 339904                     /tmp/gone (deleted)
Rss:                   4 kB
Anonymous:             0 kB
`;

function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? NaN);
}

describe('parseSmaps / droppable', () => {
  it('reads addresses, permissions, path and the Rss/Anonymous sizes of each mapping', () => {
    const maps = parseSmaps(SMAPS);
    assert.equal(maps.length, 7);
    assert.deepEqual(maps[0], { start: 0x400000n, end: 0x82f000n, perms: 'r-xp', path: '/opt/system-monitor', rssKb: 3196, anonymousKb: 0 });
    assert.deepEqual(maps[3], { start: 0x2db53000n, end: 0x2e1d6000n, perms: 'rw-p', path: '[heap]', rssKb: 6524, anonymousKb: 6524 });
    assert.equal(maps[4]?.start, 0x7fde56244000n);
  });

  it('keeps only clean, private, read-only file mappings', () => {
    // RELRO has copy-on-write pages, .data is writable, the heap is no file, /dev/shm is shared, a deleted file cannot refault.
    assert.deepEqual(
      droppable(parseSmaps(SMAPS)).map((m) => m.path),
      ['/opt/system-monitor', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
    );
  });
});

describe('releaseStartupPages', { skip: process.platform !== 'linux' }, () => {
  it('drops resident file pages of this process, which keeps running on what faults back in', async () => {
    const before = statusKb('RssFile');
    const result = await releaseStartupPages(pino({ level: 'silent' }));
    const after = statusKb('RssFile');
    assert.ok(result !== null);
    assert.equal(result.failed, 0);
    assert.ok(result.mappings > 0);
    // A Node process that has loaded tsx touched far more of its binary than running this needs.
    assert.ok(before - after > 2048, `RssFile ${before} kB -> ${after} kB`);
    // Code that ran before the release runs again (from pages faulted back in) with the same results.
    assert.equal(parseSmaps(SMAPS).length, 7);
    assert.equal(JSON.stringify({ a: [1, 2] }), '{"a":[1,2]}');
  });
});
