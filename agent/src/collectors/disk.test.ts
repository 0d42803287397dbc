import assert from 'node:assert/strict';
import { statfsSync, type BigIntStatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { diskSchema } from '../../../shared/src/payload.js';
import { NO_CGROUP } from '../../test/helpers/env.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import type { AgentEnv } from './types.js';
import { createDiskCollector, toMount } from './disk.js';

function env(diskPaths: string[]): AgentEnv {
  return {
    procRoot: '/proc',
    sysRoot: '/sys',
    cgroup: NO_CGROUP,
    intervalMs: 5000,
    minRateDeltaNs: 2_500_000_000n,
    diskPaths,
    clock: () => 0n,
  };
}

function fakeStatfs(f: { bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number }): BigIntStatsFs {
  return {
    type: 0xef53n,
    bsize: BigInt(f.bsize),
    blocks: BigInt(f.blocks),
    bfree: BigInt(f.bfree),
    bavail: BigInt(f.bavail),
    files: BigInt(f.files),
    ffree: BigInt(f.ffree),
  };
}

describe('disk collector', () => {
  it('with only / (the default) answers synchronously, the same figures as statfs of /', () => {
    const before = statfsSync('/');
    const report = new RecordingReport();
    const out = createDiskCollector(env(['/'])).collect(fixedTick(), report);
    const after = statfsSync('/');
    assert.ok(!(out instanceof Promise), 'a block, not a promise');
    const block = diskSchema.parse(out);
    assert.equal(report.failedFields.size, 0);
    assert.equal(block.mounts.length, 1);
    const m = block.mounts[0];
    assert.ok(m !== undefined);
    assert.equal(m.path, '/');
    assert.equal(m.total_bytes, before.blocks * before.bsize);
    const usedB = (before.blocks - before.bfree) * before.bsize;
    const usedA = (after.blocks - after.bfree) * after.bsize;
    assert.ok(m.used_bytes >= Math.min(usedB, usedA) && m.used_bytes <= Math.max(usedB, usedA), `used ${m.used_bytes} not within [${usedB}, ${usedA}]`);
  });

  it('a path given beside / still goes through the deadline path (a promise)', async () => {
    const out = createDiskCollector(env(['/', tmpdir()])).collect(fixedTick(), new RecordingReport());
    assert.ok(out instanceof Promise);
    assert.equal((await out).mounts.length, 2);
  });

  it('statfs of real paths matches statfs computed independently (df -B1 arithmetic)', async () => {
    const paths = ['/', tmpdir()];
    const before = paths.map((p) => statfsSync(p));
    const report = new RecordingReport();
    const block = await createDiskCollector(env(paths)).collect(fixedTick(), report);
    const afterSt = paths.map((p) => statfsSync(p));
    diskSchema.parse(block);
    assert.equal(report.failedFields.size, 0);
    assert.deepEqual(
      block.mounts.map((m) => m.path),
      paths,
    );
    block.mounts.forEach((m, i) => {
      const b = before[i];
      const a = afterSt[i];
      assert.ok(b !== undefined && a !== undefined);
      assert.equal(m.total_bytes, b.blocks * b.bsize);
      assert.equal(m.inodes_total, b.files);
      // Other processes may write between the reads: bound by the readings on either side.
      const usedB = (b.blocks - b.bfree) * b.bsize;
      const usedA = (a.blocks - a.bfree) * a.bsize;
      assert.ok(m.used_bytes >= Math.min(usedB, usedA) && m.used_bytes <= Math.max(usedB, usedA), `used ${m.used_bytes} not within [${usedB}, ${usedA}]`);
      const availB = b.bavail * b.bsize;
      const availA = a.bavail * a.bsize;
      assert.ok(m.available_bytes >= Math.min(availB, availA) && m.available_bytes <= Math.max(availB, availA));
      assert.ok(Math.abs(m.percent - (100 * m.used_bytes) / m.total_bytes) < 1e-12);
    });
  });

  it('a nonexistent path fails alone; the others are still reported', async () => {
    const missing = '/nonexistent/sm-disk-test';
    const report = new RecordingReport();
    const block = await createDiskCollector(env(['/', missing])).collect(fixedTick(), report);
    assert.deepEqual(
      block.mounts.map((m) => m.path),
      ['/'],
    );
    assert.match(report.failedFields.get(`mounts[${missing}]`) ?? '', /ENOENT/);
  });

  it('a hung mount is failed at the deadline and not asked again while still hung', async () => {
    let calls = 0;
    let release: (v: BigIntStatsFs) => void = () => undefined;
    const hung = new Promise<BigIntStatsFs>((resolve) => {
      release = resolve;
    });
    const real = (p: string): Promise<BigIntStatsFs> => statfs(p, { bigint: true });
    const c = createDiskCollector(env(['/', '/mnt/nfs']), {
      deadlineMs: 50,
      statfs: (p) => {
        if (p !== '/mnt/nfs') return real(p);
        calls += 1;
        return hung;
      },
    });
    const t0 = process.hrtime.bigint();
    const r1 = new RecordingReport();
    const b1 = await c.collect(fixedTick(), r1);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 1000, `sample took ${ms} ms`);
    assert.deepEqual(
      b1.mounts.map((m) => m.path),
      ['/'],
    );
    assert.match(r1.failedFields.get('mounts[/mnt/nfs]') ?? '', /no answer within 50 ms/);

    const r2 = new RecordingReport();
    await c.collect(fixedTick(), r2);
    assert.equal(calls, 1, 'no second call piles up behind the hung one');
    assert.match(r2.failedFields.get('mounts[/mnt/nfs]') ?? '', /has not returned/);

    release(fakeStatfs({ bsize: 4096, blocks: 100, bfree: 40, bavail: 30, files: 10, ffree: 4 }));
    await hung;
    await new Promise((r) => setImmediate(r));
    const b3 = await c.collect(fixedTick(), new RecordingReport());
    assert.equal(calls, 2, 'asked again once the hung call returned');
    assert.equal(b3.mounts.find((m) => m.path === '/mnt/nfs')?.used_bytes, (100 - 40) * 4096);
  });
});

describe('toMount', () => {
  it('df arithmetic: root reserve in neither used nor available', () => {
    const m = toMount('/data', fakeStatfs({ bsize: 4096, blocks: 1000, bfree: 300, bavail: 250, files: 500, ffree: 120 }));
    assert.deepEqual(m, {
      path: '/data',
      total_bytes: 1000 * 4096,
      used_bytes: (1000 - 300) * 4096,
      available_bytes: 250 * 4096,
      percent: (100 * (1000 - 300) * 4096) / (1000 * 4096),
      inodes_total: 500,
      inodes_used: 500 - 120,
    });
  });

  it('a pseudo filesystem with 0 blocks has no usage', () => {
    assert.equal(toMount('/proc', fakeStatfs({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 })), null);
  });

  it('sizes beyond 2^53 bytes are refused rather than rounded', () => {
    assert.throws(() => toMount('/huge', fakeStatfs({ bsize: 4096, blocks: 2 ** 45, bfree: 0, bavail: 0, files: 0, ffree: 0 })), /statfs \/huge/);
  });
});
