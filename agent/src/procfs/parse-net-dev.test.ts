import assert from 'node:assert/strict';
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
});
