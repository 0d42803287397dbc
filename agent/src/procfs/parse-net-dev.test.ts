import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import { ParseError } from '../cgroup/values.js';
import { parseNetDev } from './parse-net-dev.js';

const HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';

describe('parseNetDev', () => {
  it('reads all 16 counters in order, by position after the name', () => {
    const text = `${HEADER}  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n`;
    const [eth0] = parseNetDev(text);
    assert.deepEqual(eth0, {
      name: 'eth0',
      rxBytes: 1,
      rxPackets: 2,
      rxErrors: 3,
      rxDropped: 4,
      rxFifo: 5,
      rxFrame: 6,
      rxCompressed: 7,
      rxMulticast: 8,
      txBytes: 9,
      txPackets: 10,
      txErrors: 11,
      txDropped: 12,
      txFifo: 13,
      txCollisions: 14,
      txCarrier: 15,
      txCompressed: 16,
    });
  });

  it('splits at the first colon when the number touches it and the name is long', () => {
    const text =
      HEADER +
      '    lo:  999999     100    0    0    0     0          0         0   999999     100    0    0    0     0       0          0\n' +
      'eth0:1234567890123 5 0 0 0 0 0 0 42 7 0 0 0 0 0 0\n' +
      'vethab12cd34ef5:0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n';
    const ifs = parseNetDev(text);
    assert.deepEqual(
      ifs.map((i) => [i.name, i.rxBytes, i.txBytes]),
      [
        ['lo', 999999, 999999],
        ['eth0', 1234567890123, 42],
        ['vethab12cd34ef5', 0, 0],
      ],
    );
  });

  it('keeps counters above 2^32 exactly', () => {
    const big = 2 ** 40 + 7;
    const [i] = parseNetDev(`${HEADER}eth0: ${big} 1 0 0 0 0 0 0 ${big + 1} 1 0 0 0 0 0 0\n`);
    assert.equal(i?.rxBytes, big);
    assert.equal(i.txBytes, big + 1);
  });

  it('reads counters of 15 digits (the fast path) and of 16 digits (through BigInt) exactly', () => {
    const [eth0] = parseNetDev(`${HEADER}eth0: 999999999999999 1234567890123456 0 0 0 0 0 0 9007199254740991 0 0 0 0 0 0 0\n`);
    assert.equal(eth0?.rxBytes, 999_999_999_999_999);
    assert.equal(eth0?.rxPackets, 1_234_567_890_123_456);
    assert.equal(eth0?.txBytes, Number.MAX_SAFE_INTEGER);
  });

  it('accepts a file with no interfaces and a trailing newline', () => {
    assert.deepEqual(parseNetDev(HEADER), []);
  });

  it('refuses malformed lines with the interface named', () => {
    assert.throws(() => parseNetDev(`${HEADER}eth0: 1 2 3\n`), (e: unknown) => e instanceof ParseError && /eth0 has 3 counters/.test(e.message));
    assert.throws(() => parseNetDev(`${HEADER}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n`), /eth0 counter 16/);
    assert.throws(() => parseNetDev(`${HEADER}eth0: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n`), /unsigned/);
    assert.throws(() => parseNetDev(`${HEADER}garbage line\n`), /no ':'/);
  });

  it('refuses a file without the two header lines', () => {
    assert.throws(() => parseNetDev('eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n'), /header/);
  });

  it('refuses counters a double cannot hold exactly', () => {
    assert.throws(() => parseNetDev(`${HEADER}eth0: 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`), /safe integer/);
  });

  it('reads any line as the field-by-field rule does: the same counters, or a refusal', () => {
    /** The rule, written here on its own: split at the first colon, 16 whitespace-separated unsigned integers, exact as doubles. */
    const byFields = (text: string): unknown => {
      const out: unknown[] = [];
      for (const line of text.split('\n').slice(2)) {
        if (line.trim() === '') continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? '' : line.slice(0, colon).trim();
        const tokens = line.slice(colon + 1).trim().split(/\s+/);
        if (colon < 0 || name === '' || tokens.length !== 16 || !tokens.every((t) => /^\d+$/.test(t) && BigInt(t) <= BigInt(Number.MAX_SAFE_INTEGER))) return 'refused';
        out.push([name, ...tokens.map(Number)]);
      }
      return out;
    };
    const counter = fc.oneof(fc.nat({ max: 99_999 }).map(String), fc.bigInt({ min: 0n, max: 10n ** 17n }).map(String), fc.constantFrom('x', '-1', ''));
    const space = fc.constantFrom(' ', '  ', '\t', '');
    const line = fc.tuple(fc.constantFrom('lo', 'eth0', 'veth1a2b3c4', 'br one', ''), space, fc.array(fc.tuple(space, counter), { minLength: 14, maxLength: 17 })).map(([name, pad, cs]) => `${pad}${name}:${cs.map(([sp, c]) => `${sp}${c}`).join('')}`);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 3 }), (lines) => {
        const text = `${HEADER}${lines.join('\n')}\n`;
        let got: unknown;
        try {
          got = parseNetDev(text).map((c): unknown[] => [c.name, ...(Object.values(c) as unknown[]).slice(1)]);
        } catch (err) {
          assert.ok(err instanceof ParseError, String(err));
          got = 'refused';
        }
        assert.deepEqual(got, byFields(text), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
  });
});
