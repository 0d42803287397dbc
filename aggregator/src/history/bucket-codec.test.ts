import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FORMAT_1_FIELDS, HISTORY_FORMAT_VERSION, HistoryFormatError } from '../../../shared/src/history-codec.js';
import { BUCKET_FIELD, decodeBucket, encodeBucket, parseRollupEntry } from './bucket-codec.js';
import { rolledFields, type Bucket, type RolledField } from './rollup.js';

const scaleOf = new Map<RolledField, number>(FORMAT_1_FIELDS.map(([f, s]) => [f, s]));
const bytes = (...b: number[]): Buffer => Buffer.from(b);
/** Version 1, n = 12, a 3-byte bitmap with only `cpu_percent` (bit 0), then `rest`. */
const withCpu = (...rest: number[]): Buffer => bytes(1, 12, 0b1, 0, 0, ...rest);

describe('packed rollup buckets (format 1)', () => {
  it('lists every rolled field exactly once, so a new history field forces a format decision', () => {
    assert.deepEqual([...FORMAT_1_FIELDS.map(([f]) => f)].sort(), [...rolledFields].sort());
  });

  it('round-trips a bucket at each field\'s fixed-point resolution', () => {
    const b: Bucket = {
      start: 1_767_225_600_000,
      n: 12,
      fields: {
        cpu_percent: { min: 10.004, avg: 20.5, max: 99.996 },
        cpu_cores: { min: 0.12345, avg: 0.5, max: 1.99999 },
        memory_bytes: { min: 268_435_456, avg: 300_000_000.4, max: 8_000_000_000 },
        process_count: { min: 3, avg: 3.25, max: 4 },
        rx_bytes_per_sec: { min: 0, avg: 0.6, max: 1e12 },
        disk_percent: { min: -1.5, avg: -1.5, max: -1.5 },
      },
    };
    const { bytes: packed, dropped } = encodeBucket(b);
    assert.deepEqual(dropped, []);
    const back = decodeBucket(b.start, packed);
    assert.equal(back.n, 12);
    assert.deepEqual(Object.keys(back.fields).sort(), Object.keys(b.fields).sort());
    // Independently: each value rounded to its field's unit (0.01 %, 0.0001 cores, whole bytes).
    assert.deepEqual(back.fields.cpu_percent, { min: 10, avg: 20.5, max: 100 });
    assert.deepEqual(back.fields.cpu_cores, { min: 0.1235, avg: 0.5, max: 2 });
    assert.deepEqual(back.fields.memory_bytes, { min: 268_435_456, avg: 300_000_000, max: 8_000_000_000 });
    assert.deepEqual(back.fields.process_count, { min: 3, avg: 3.25, max: 4 });
    assert.deepEqual(back.fields.rx_bytes_per_sec, { min: 0, avg: 1, max: 1e12 });
    assert.deepEqual(back.fields.disk_percent, { min: -1.5, avg: -1.5, max: -1.5 });
  });

  it('any bucket comes back within half a unit of each field, in order min <= avg <= max', () => {
    const stat = fc.tuple(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1e9, noNaN: true }));
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...rolledFields), stat), fc.integer({ min: 1, max: 1000 }), (chosen, n) => {
        const fields: Bucket['fields'] = {};
        for (const [f, [min, frac, spread]] of Object.entries(chosen) as [RolledField, [number, number, number]][]) fields[f] = { min, avg: min + frac * spread, max: min + spread };
        const back = decodeBucket(0, encodeBucket({ start: 0, n, fields }).bytes);
        assert.equal(back.n, n);
        for (const [f, s] of Object.entries(fields) as [RolledField, { min: number; avg: number; max: number }][]) {
          const got = back.fields[f];
          assert.ok(got !== undefined, f);
          const unit = 1 / (scaleOf.get(f) ?? NaN);
          for (const k of ['min', 'avg', 'max'] as const) assert.ok(Math.abs(got[k] - s[k]) <= unit / 2 + Math.abs(s[k]) * 1e-12, `${f}.${k}: ${got[k]} vs ${s[k]}`);
          assert.ok(got.min <= got.avg && got.avg <= got.max, `${f} in order`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leaves out, and reports, a value it cannot represent instead of storing a wrong one', () => {
    const { bytes: packed, dropped } = encodeBucket({ start: 0, n: 1, fields: { memory_bytes: { min: 1, avg: 1e300, max: Infinity }, cpu_percent: { min: 5, avg: 5, max: 5 } } });
    assert.deepEqual(dropped.map((d) => d.field), ['memory_bytes']);
    assert.deepEqual(decodeBucket(0, packed).fields, { cpu_percent: { min: 5, avg: 5, max: 5 } });
  });

  it('refuses each kind of malformed value with a message naming it', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['empty', bytes(), /ends early at byte 0, reading the format version/],
      ['a future version', bytes(2, 1, 0, 0, 0), /format version 2 is not one this program reads \(it reads 1\)/],
      ['an old decimal value', Buffer.from('12.5'), /format version 49/],
      ['zero samples', bytes(1, 0, 0, 0, 0), /sample count 0 is outside/],
      ['a sample count over the bound', bytes(1, 0x80, 0x80, 0x80, 0x01, 0, 0, 0), /sample count 2097152 is outside/],
      ['a cut bitmap', bytes(1, 12, 1), /ends early .* the field bitmap/],
      ['a bit past the last field', bytes(1, 12, 0, 0, 0b1000), /field bit 19 is set, but format 1 has 19 fields/],
      ['a cut field', withCpu(4, 2), /ends early .* cpu_percent max - avg/],
      ['an unterminated varint', withCpu(0x80), /ends early .* cpu_percent min/],
      ['a varint over 8 bytes', withCpu(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), /cpu_percent min .* longer than 8 bytes/],
      ['a varint beyond 2^53', withCpu(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), /cpu_percent min .* beyond 2\^53/],
      ['a sum beyond 2^53', withCpu(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0), /cpu_percent max is beyond 2\^53/],
      ['trailing bytes', withCpu(4, 2, 2, 9), /9 bytes, but the value ends at byte 8/],
    ];
    for (const [what, value, message] of cases) {
      assert.throws(() => decodeBucket(0, value), (err: unknown) => err instanceof HistoryFormatError && message.test(err.message), what);
    }
    // The good value the cut and trailing cases start from: cpu 0.02 / 0.03 / 0.04.
    assert.deepEqual(decodeBucket(0, withCpu(4, 1, 1)).fields, { cpu_percent: { min: 0.02, avg: 0.03, max: 0.04 } });
  });

  it('refuses a stream entry that is not one aligned bucket in field "b"', () => {
    const good = encodeBucket({ start: 120_000, n: 2, fields: { cpu_percent: { min: 1, avg: 2, max: 3 } } }).bytes;
    assert.equal(parseRollupEntry(Buffer.from('120000-1'), [Buffer.from(BUCKET_FIELD), good], 60_000).start, 120_000);
    const bad: [string, string, Buffer[], RegExp][] = [
      ['unaligned start', '125000-1', [Buffer.from('b'), good], /bucket start 125000 is not a multiple of 60000 ms/],
      ['the old layout', '120000-1', ['ts', '120000', 'n', '2'].map((s) => Buffer.from(s)), /expected one field "b", found 2 field\(s\) starting with "ts"/],
      ['two fields', '120000-1', [Buffer.from('b'), good, Buffer.from('x'), good], /expected one field "b"/],
      ['no fields', '120000-1', [], /expected one field "b", found 0/],
      ['a bad ID', 'x-1', [Buffer.from('b'), good], /stream ID "x-1" is not <unix ms>-<seq>/],
    ];
    for (const [what, id, flat, message] of bad) {
      assert.throws(() => parseRollupEntry(Buffer.from(id), flat, 60_000), (err: unknown) => err instanceof HistoryFormatError && message.test(err.message), what);
    }
  });

  it('never throws anything but a HistoryFormatError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (raw, versioned) => {
        const value = versioned ? Buffer.concat([bytes(HISTORY_FORMAT_VERSION), raw]) : Buffer.from(raw);
        try {
          const b = decodeBucket(0, value);
          for (const s of Object.values(b.fields)) assert.ok(s.min <= s.avg && s.avg <= s.max);
        } catch (err) {
          assert.ok(err instanceof HistoryFormatError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
