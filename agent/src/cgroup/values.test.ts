import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import { countToken, keyedCount, parseCpuListCount, parseKeyedFile, parseLimit, parseSingleCount, ParseError, toCount, toSafeNumber, parseBigIntToken } from './values.js';

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

  it('gives what reading every line and keeping the wanted keys gives, on any text', () => {
    // The rule it stands for, written independently: every line, split at its first space, last valid one wins.
    const everyLine = (text: string, wanted: ReadonlySet<string>): [string, bigint][] => {
      const out = new Map<string, bigint>();
      for (const line of text.split('\n')) {
        const sp = line.indexOf(' ');
        if (sp <= 0 || !wanted.has(line.slice(0, sp))) continue;
        const tok = line.slice(sp + 1).trim();
        if (/^-?\d+$/.test(tok)) out.set(line.slice(0, sp), BigInt(tok));
      }
      return [...out].sort(([a], [b]) => a.localeCompare(b));
    };
    const keys = ['cache', 'total_cache', 'rss', 'total_rss', 'rss_huge', 'x'];
    const line = fc.tuple(fc.constantFrom(...keys, '', ' cache', 'cache\t'), fc.constantFrom(' ', '  ', '', ' \t'), fc.constantFrom('0', '12', '-7', '99999999999999999999', 'abc', '1 2', '', '5\r'));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.subarray(keys), fc.boolean(), (lines, want, trailing) => {
        const text = lines.map(([k, sep, v]) => `${k}${sep}${v}`).join('\n') + (trailing ? '\n' : '');
        const wanted = new Set(want);
        const got = [...parseKeyedFile(text, wanted)].sort(([a], [b]) => a.localeCompare(b));
        assert.deepEqual(got, everyLine(text, wanted), JSON.stringify(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the v1 memory.stat keys beside their non-total twins', () => {
    const text = 'cache 1\nrss 2\ntotal_cache 30\ntotal_rss 40\nhierarchical_memory_limit 9223372036854771712\n';
    const m = parseKeyedFile(text, new Set(['total_cache', 'total_rss', 'rss', 'hierarchical_memory_limit']));
    assert.equal(m.get('total_cache'), 30n);
    assert.equal(m.get('total_rss'), 40n);
    assert.equal(m.get('rss'), 2n);
    assert.equal(m.get('hierarchical_memory_limit'), 9223372036854771712n);
    assert.equal(m.has('cache'), false);
  });
});

describe('countToken (the per-tick fast path)', () => {
  /** The slow path it stands for, computed independently of it. */
  const viaBigInt = (token: string, what: string): number => toCount(parseBigIntToken(token, what), what);

  it('gives what the BigInt path gives on both sides of the 15-digit fast path, without naming the file', () => {
    let named = 0;
    const what = (): string => {
      named += 1;
      return 'io.stat line 1 rbytes';
    };
    for (const token of ['0', '7', '-0', '-12', '123456789012345', '999999999999999']) {
      const got = countToken(token, what);
      assert.ok(Object.is(got, viaBigInt(token, 'x')), `${token}: ${got}`);
    }
    assert.equal(named, 0, 'no error text built for short tokens');
    // 16 digits: still a safe integer, taken through the BigInt path.
    assert.equal(countToken('1234567890123456', what), 1234567890123456);
    assert.equal(named, 1);
  });

  it('refuses what the BigInt path refuses, with the same message', () => {
    for (const token of ['', 'abc', '1.5', '12 3', '9007199254740993']) {
      let expected = '';
      try {
        viaBigInt(token, 'io.stat line 2 wbytes');
      } catch (err) {
        expected = err instanceof Error ? err.message : '';
      }
      assert.notEqual(expected, '', `${token} must be refused`);
      assert.throws(
        () => countToken(token, () => 'io.stat line 2 wbytes'),
        (e: unknown) => e instanceof ParseError && e.message === expected,
      );
    }
  });

  it('keyedCount: the same number past 2^53 refusal and negative clamp as before', () => {
    const m = parseKeyedFile('a 5\nb -3\nc 9007199254740993\nd 9007199254740991\n');
    assert.equal(keyedCount(m, 'a', 'memory.stat'), 5);
    assert.equal(keyedCount(m, 'b', 'memory.stat'), 0);
    assert.equal(keyedCount(m, 'd', 'memory.stat'), Number.MAX_SAFE_INTEGER);
    assert.equal(keyedCount(m, 'missing', 'memory.stat'), null);
    assert.throws(() => keyedCount(m, 'c', 'memory.stat'), (e: unknown) => e instanceof ParseError && e.message.includes('memory.stat c'));
  });
});
