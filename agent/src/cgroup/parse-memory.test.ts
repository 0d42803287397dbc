import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostMemoryView, parseMemoryEvents, parseMemoryStat, parseOomControl, parseVmstat } from './parse-memory.js';

const V2_STAT = `anon 104857600
file 52428800
kernel 8388608
kernel_stack 245760
shmem 4096
file_mapped 1048576
inactive_file 20971520
active_file 31457280
pgfault 9000
pgmajfault 42
`;

const V1_STAT = `cache 9306112
rss 3461120
shmem 9166848
pgmajfault 0
inactive_file 0
hierarchical_memory_limit 268435456
hierarchical_memsw_limit 9223372036854771712
total_cache 154079232
total_rss 160153600
total_shmem 71274496
total_pgmajfault 3528
total_inactive_file 19185664
`;

describe('parseMemoryStat', () => {
  it('v2: reads the plain keys', () => {
    const s = parseMemoryStat(V2_STAT, 2);
    assert.deepEqual(s, {
      anon: 104857600,
      file: 52428800,
      shmem: 4096,
      kernel: 8388608,
      inactiveFile: 20971520,
      majorFaults: 42,
      hierarchicalLimit: { kind: 'absent' },
    });
  });
  it('v1: reads the hierarchical total_* keys, not the local ones', () => {
    const s = parseMemoryStat(V1_STAT, 1);
    assert.deepEqual(s, {
      anon: 160153600,
      file: 154079232,
      shmem: 71274496,
      kernel: null,
      inactiveFile: 19185664,
      majorFaults: 3528,
      hierarchicalLimit: { kind: 'bytes', bytes: 268435456 },
    });
  });
  it('v1: the page-rounded maximum 9223372036854771712 is unlimited, not a number', () => {
    const s = parseMemoryStat('hierarchical_memory_limit 9223372036854771712\n', 1);
    assert.deepEqual(s.hierarchicalLimit, { kind: 'unlimited' });
  });
  it('negative values clamp to 0', () => {
    const s = parseMemoryStat('anon 100\ninactive_file -8192\nfile -1\n', 2);
    assert.equal(s.inactiveFile, 0);
    assert.equal(s.file, 0);
    assert.equal(s.anon, 100);
  });
  it('v2 without the kernel key (kernel < 5.18) gives null, not a sum of guesses', () => {
    const s = parseMemoryStat('anon 1\nfile 2\nkernel_stack 3\nslab 4\n', 2);
    assert.equal(s.kernel, null);
    assert.equal(s.shmem, null);
  });
});

describe('memory.events / memory.oom_control', () => {
  it('reads oom and oom_kill', () => {
    assert.deepEqual(parseMemoryEvents('low 0\nhigh 12\nmax 40\noom 3\noom_kill 2\noom_group_kill 0\n'), { oom: 3, oomKill: 2 });
    assert.deepEqual(parseMemoryEvents('low 0\nhigh 0\nmax 0\noom 0\n'), { oom: 0, oomKill: null });
  });
  it('v1 oom_control: oom_kill is numeric, the other lines are flags', () => {
    assert.deepEqual(parseOomControl('oom_kill_disable 0\nunder_oom 0\noom_kill 5\n'), { oomKill: 5 });
    assert.deepEqual(parseOomControl('oom_kill_disable 0\nunder_oom 0\n'), { oomKill: null });
  });
});

describe('host memory (/proc/meminfo, /proc/vmstat)', () => {
  it('usage is MemTotal − MemAvailable; swap is SwapTotal − SwapFree', () => {
    const kB = 1024;
    const m = new Map<string, number>([
      ['MemTotal', 16_000_000 * kB],
      ['MemAvailable', 10_000_000 * kB],
      ['AnonPages', 3_000_000 * kB],
      ['Cached', 4_000_000 * kB],
      ['Shmem', 100_000 * kB],
      ['Inactive(file)', 2_000_000 * kB],
      ['SwapTotal', 2_000_000 * kB],
      ['SwapFree', 1_500_000 * kB],
    ]);
    assert.deepEqual(hostMemoryView(m), {
      total: 16_000_000 * kB,
      used: (16_000_000 - 10_000_000) * kB,
      anon: 3_000_000 * kB,
      file: 4_000_000 * kB,
      shmem: 100_000 * kB,
      inactiveFile: 2_000_000 * kB,
      swap: (2_000_000 - 1_500_000) * kB,
    });
  });
  it('without MemAvailable (kernel < 3.14) usage is null', () => {
    assert.equal(hostMemoryView(new Map([['MemTotal', 1024]])).used, null);
  });
  it('vmstat pgmajfault and oom_kill', () => {
    assert.deepEqual(parseVmstat('nr_free_pages 1\npgmajfault 77\noom_kill 1\n'), { majorFaults: 77, oomKill: 1 });
    assert.deepEqual(parseVmstat('nr_free_pages 1\n'), { majorFaults: null, oomKill: null });
  });
});
