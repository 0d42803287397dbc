import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseCfsQuota,
  parseCpuacctStat,
  parseCpuacctUsage,
  parseCpuMax,
  parseCpuStatV1,
  parseCpuStatV2,
  quotaCores,
  USER_HZ,
} from './parse-cpu.js';
import { ParseError } from './values.js';

const isParseError = (text: string) => (e: unknown): boolean => e instanceof ParseError && e.message.includes(text);

describe('parseCpuMax (v2)', () => {
  it('reads quota and period; fractional quotas stay fractional', () => {
    assert.deepEqual(parseCpuMax('200000 100000\n'), { quotaUs: 200_000, periodUs: 100_000 });
    assert.equal(quotaCores(parseCpuMax('200000 100000\n')), 2);
    assert.equal(quotaCores(parseCpuMax('25000 100000\n')), 25_000 / 100_000);
    assert.equal(quotaCores(parseCpuMax('150000 100000')), 1.5);
  });
  it('"max" is no quota', () => {
    assert.deepEqual(parseCpuMax('max 100000\n'), { quotaUs: null, periodUs: 100_000 });
    assert.equal(quotaCores(parseCpuMax('max 100000\n')), null);
  });
  it('rejects malformed content with the file name in the message', () => {
    assert.throws(() => parseCpuMax('max\n'), isParseError('cpu.max'));
    assert.throws(() => parseCpuMax('100000 100000 7\n'), isParseError('cpu.max'));
    assert.throws(() => parseCpuMax('lots 100000\n'), isParseError('cpu.max quota'));
    assert.throws(() => parseCpuMax('50000 0\n'), isParseError('period must be positive'));
    assert.throws(() => parseCpuMax('0 100000\n'), isParseError('quota must be positive'));
    assert.throws(() => parseCpuMax(''), isParseError('cpu.max'));
  });
});

describe('parseCfsQuota (v1)', () => {
  it('-1 is no quota; a quota is divided by the period', () => {
    assert.equal(quotaCores(parseCfsQuota('-1\n', '100000\n')), null);
    assert.deepEqual(parseCfsQuota('50000\n', '100000\n'), { quotaUs: 50_000, periodUs: 100_000 });
    assert.equal(quotaCores(parseCfsQuota('50000\n', '100000\n')), 0.5);
    assert.equal(quotaCores(parseCfsQuota('150000\n', '50000\n')), 3);
  });
  it('rejects a bad period', () => {
    assert.throws(() => parseCfsQuota('50000\n', 'x\n'), isParseError('cpu.cfs_period_us'));
    assert.throws(() => parseCfsQuota('50000\n', '0\n'), isParseError('cpu.cfs_period_us'));
  });
});

describe('parseCpuStatV2', () => {
  it('reads usage and throttling counters in µs, ignoring unknown keys', () => {
    const s = parseCpuStatV2(
      'usage_usec 355000869\nuser_usec 269101064\nsystem_usec 85899805\nnice_usec 0\n' +
        'core_sched.force_idle_usec 0\nnr_periods 120\nnr_throttled 30\nthrottled_usec 4500000\nnr_bursts 0\nburst_usec 0\n',
    );
    assert.deepEqual(s, {
      usageUs: 355000869,
      userUs: 269101064,
      systemUs: 85899805,
      periods: 120,
      throttledPeriods: 30,
      throttledUs: 4500000,
    });
  });
  it('the root cgroup (and a cgroup without the cpu controller) has no throttling keys', () => {
    const s = parseCpuStatV2('usage_usec 10\nuser_usec 6\nsystem_usec 4\n');
    assert.equal(s.usageUs, 10);
    assert.equal(s.periods, null);
    assert.equal(s.throttledPeriods, null);
    assert.equal(s.throttledUs, null);
  });
});

describe('parseCpuStatV1', () => {
  it('converts throttled_time from ns to µs', () => {
    const s = parseCpuStatV1('nr_periods 500\nnr_throttled 400\nthrottled_time 123456789000\nnr_bursts 0\nburst_time 0\n');
    assert.deepEqual(s, { periods: 500, throttledPeriods: 400, throttledUs: 123456789000 / 1000 });
  });
  it('missing keys are null', () => {
    assert.deepEqual(parseCpuStatV1('nr_bursts 0\n'), { periods: null, throttledPeriods: null, throttledUs: null });
  });
});

describe('cpuacct (v1)', () => {
  it('cpuacct.usage ns → µs, exact for values above 2^53 ns', () => {
    assert.equal(parseCpuacctUsage('244946608013\n'), 244946608);
    // 2^60 ns does not fit a double exactly; in µs it does.
    assert.equal(parseCpuacctUsage(`${2n ** 60n}\n`), Number(2n ** 60n / 1000n));
    assert.throws(() => parseCpuacctUsage('\n'), isParseError('cpuacct.usage'));
  });
  it('cpuacct.stat ticks of 1/USER_HZ s → µs', () => {
    assert.deepEqual(parseCpuacctStat('user 18568\nsystem 5926\n'), {
      userUs: (18568 * 1e6) / USER_HZ,
      systemUs: (5926 * 1e6) / USER_HZ,
    });
    assert.deepEqual(parseCpuacctStat('user 3\n'), { userUs: (3 * 1e6) / USER_HZ, systemUs: null });
  });
});
