import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { dropFromPageCache, droppable, openLibc, parseSmaps, releaseFiles, releaseStartupPages } from './release-pages.js';

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

describe('releaseFiles', () => {
  it('lists the release directory\'s own mapped files once each, nothing of the image and nothing without a release', () => {
    const maps = parseSmaps(`00400000-00401000 r--p 00000000 fe:00 1 /opt/sm/libexec/system-monitor-node
00401000-00402000 r-xp 00001000 fe:00 1 /opt/sm/libexec/system-monitor-node
7f0000000000-7f0000001000 r-xp 00000000 fe:00 2 /opt/sm/lib/libc.so.6
7f0000002000-7f0000003000 r--p 00000000 fe:00 3 /usr/lib/locale/C.utf8/LC_CTYPE
7f0000004000-7f0000005000 r--p 00000000 fe:00 4 /opt/smx/lib/other.so
`);
    assert.deepEqual(releaseFiles(maps, '/opt/sm'), ['/opt/sm/libexec/system-monitor-node', '/opt/sm/lib/libc.so.6']);
    assert.deepEqual(releaseFiles(maps, null), []);
  });
});

/** Resident pages of a file in the page cache, as the kernel reports them (util-linux fincore). */
function cachedPages(file: string): number {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'PAGES', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fincore failed (util-linux): ${r.stderr}`);
  return Number(r.stdout.trim());
}

describe('dropFromPageCache', { skip: process.platform !== 'linux' }, () => {
  it('frees a file\'s cached pages that no process maps', async () => {
    // Beside the repo, on a disk filesystem (tmpfs pages cannot leave the cache).
    const cache = join(import.meta.dirname, '../../.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'test-fadvise-'));
    try {
      const file = join(dir, 'data');
      writeFileSync(file, Buffer.alloc(4 * 1024 * 1024, 7));
      spawnSync('sync', [file]);
      readFileSync(file);
      const before = cachedPages(file);
      assert.ok(before >= 1000, `a 4 MiB file just written and read is cached (${before} pages)`);
      assert.equal(dropFromPageCache(await openLibc(), file), true);
      assert.equal(cachedPages(file), 0);
      assert.equal(dropFromPageCache(await openLibc(), join(dir, 'missing')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
