import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makePayload } from '../../aggregator/test/helpers/payload.js';
import { HistoryFormatError } from './history-codec.js';
import { decodeHistoryValue, historyFields, parseHistoryRow, PACKED_HISTORY_FIELD, textHistoryFields } from './history.js';

const TS = 1_767_225_600_123;
const bufs = (...xs: (string | Buffer)[]): Buffer[] => xs.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x)));

describe('history entries: packed (format 1) and the text layout of older agents', () => {
  it('a sample packs to one field and comes back at each field\'s fixed-point resolution', () => {
    const p = makePayload({ cpu_percent: 12.3456, memory_percent: 33.333333, disk_percent: 9.40402862118903, throttled_percent: 0 });
    const [name, value] = historyFields(p, TS);
    assert.equal(name, PACKED_HISTORY_FIELD);
    const e = parseHistoryRow(bufs(name, value));
    assert.equal(e.ts, TS);
    // Rounded independently: percents to 0.01, bytes whole.
    assert.equal(e.cpu_percent, 12.35);
    assert.equal(e.memory_percent, 33.33);
    assert.equal(e.disk_percent, 9.4);
    assert.equal(e.memory_bytes, 450_000_000);
    assert.equal(e.cpu_throttled_percent, 0);
    assert.equal(e.gpu_util_percent, null, 'no GPU: no value');
    // The same sample in the text layout reads the same where the text is exact.
    const t = parseHistoryRow(bufs(...textHistoryFields(p, TS)));
    assert.equal(t.memory_bytes, e.memory_bytes);
    assert.equal(t.cpu_percent, 12.3456);
    assert.equal(t.gpu_util_percent, null);
  });

  it('stores a value with no fixed-point form as no value', () => {
    const [, value] = historyFields({ ...makePayload(), cpu_percent: Number.POSITIVE_INFINITY, memory_percent: 1e300 }, TS);
    const e = decodeHistoryValue(value);
    assert.equal(e.cpu_percent, null);
    assert.equal(e.memory_percent, null);
    assert.equal(e.process_count, 3);
  });

  it('refuses each kind of malformed entry with a message naming it', () => {
    const [, good] = historyFields(makePayload(), TS);
    const cases: [string, Buffer[], RegExp][] = [
      ['a future version', bufs('p', Buffer.concat([Buffer.from([2]), good.subarray(1)])), /format version 2 is not one this program reads/],
      ['a cut value', bufs('p', good.subarray(0, good.length - 1)), /ends early/],
      ['trailing bytes', bufs('p', Buffer.concat([good, Buffer.from([0])])), /but the value ends at byte/],
      ['an empty value', bufs('p', ''), /ends early at byte 0, reading the format version/],
      ['an unknown single field', bufs('x', good), /one-field entry named "x" is neither format 1/],
      ['text that is not a number', bufs('ts', '1', 'cpu_percent', 'lots'), /must be a decimal number/],
    ];
    for (const [what, flat, message] of cases) assert.throws(() => parseHistoryRow(flat), (err: unknown) => err instanceof Error && message.test(err.message), what);
  });

  it('never throws anything but a HistoryFormatError on arbitrary packed bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (raw, versioned) => {
        const value = versioned ? Buffer.concat([Buffer.from([1]), raw]) : Buffer.from(raw);
        try {
          parseHistoryRow(bufs('p', value));
        } catch (err) {
          assert.ok(err instanceof HistoryFormatError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
