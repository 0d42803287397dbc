import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyedCount, parseCpuListCount, parseKeyedFile, parseLimit, parseSingleCount, ParseError, toSafeNumber } from './values.js';

describe('parseLimit', () => {
  it('treats v2 "max", v1 quota -1 and the v1 page-rounded maximum as unlimited', () => {
    assert.equal(parseLimit('max\n', 'memory.max'), null);
    assert.equal(parseLimit('-1\n', 'cpu.cfs_quota_us'), null);
    assert.equal(parseLimit('9223372036854771712\n', 'memory.limit_in_bytes'), null);
  });
  it('returns real limits exactly', () => {
    assert.equal(parseLimit('268435456\n', 'memory.max'), 256 * 1024 * 1024);
  });
  it('rejects garbage with the file name in the message', () => {
    assert.throws(() => parseLimit('lots', 'memory.max'), (e: unknown) => e instanceof ParseError && e.message.includes('memory.max'));
  });
});

describe('parseKeyedFile', () => {
  it('keeps known keys, skips lines that are not "key integer", and keeps negatives for the caller', () => {
    const m = parseKeyedFile('anon 10\nweird line here\nfile -4096\nnew_key_from_future_kernel 7\n\n');
    assert.equal(m.get('anon'), 10n);
    assert.equal(m.get('file'), -4096n);
    assert.equal(m.get('new_key_from_future_kernel'), 7n);
    assert.equal(m.has('weird'), false);
    assert.equal(keyedCount(m, 'file', 'memory.stat'), 0, 'negative memory.stat values clamp to 0');
    assert.equal(keyedCount(m, 'absent', 'memory.stat'), null);
  });
});

describe('parseSingleCount / toSafeNumber', () => {
  it('parses a counter and refuses values above 2^53', () => {
    assert.equal(parseSingleCount('42\n', 'memory.current'), 42);
    assert.throws(() => toSafeNumber(2n ** 60n, 'x'), ParseError);
    assert.throws(() => parseSingleCount('', 'memory.current'), ParseError);
  });
});

describe('parseCpuListCount', () => {
  it('counts ranges and single CPUs', () => {
    assert.equal(parseCpuListCount('0-3,6\n', 'cpuset'), 5);
    assert.equal(parseCpuListCount('0\n', 'cpuset'), 1);
    assert.equal(parseCpuListCount('\n', 'cpuset'), 0);
    assert.throws(() => parseCpuListCount('3-1', 'cpuset'), ParseError);
    assert.throws(() => parseCpuListCount('a-b', 'cpuset'), ParseError);
  });
});

describe('parseKeyedFile with a wanted set', () => {
  it('returns only the wanted keys', () => {
    const m = parseKeyedFile('anon 1\nfile 2\nshmem 3\n', new Set(['file']));
    assert.deepEqual([...m], [['file', 2n]]);
  });
});
