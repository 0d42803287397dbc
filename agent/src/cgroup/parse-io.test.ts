import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareDeviceIds, parseBlkioThrottle, parseIoStat } from './parse-io.js';
import { ParseError } from './values.js';

describe('parseIoStat', () => {
  it('reads bytes and ops per device, keys in any order, unknown keys ignored', () => {
    const text =
      '8:0 rbytes=1048576 wbytes=2097152 rios=64 wios=128 dbytes=0 dios=0\n' +
      '8:16 wios=7 cost.vrate=100.00 rios=3 wbytes=4096 cost.usage=12 rbytes=512 dbytes=9 dios=1\n';
    const s = parseIoStat(text, 'io.stat');
    assert.deepEqual(Object.fromEntries(s.bytes), { '8:0': { read: 1048576, write: 2097152 }, '8:16': { read: 512, write: 4096 } });
    assert.deepEqual(Object.fromEntries(s.ops), { '8:0': { read: 64, write: 128 }, '8:16': { read: 3, write: 7 } });
  });

  it('a device line with no keys counts zero; blank lines and an empty file are fine', () => {
    const s = parseIoStat('\n253:0 \n8:0 rbytes=5\n\n', 'io.stat');
    assert.deepEqual(s.bytes.get('253:0'), { read: 0, write: 0 });
    assert.deepEqual(s.ops.get('8:0'), { read: 0, write: 0 });
    assert.deepEqual(s.bytes.get('8:0'), { read: 5, write: 0 });
    assert.equal(parseIoStat('', 'io.stat').bytes.size, 0);
  });

  it('keeps 64-bit values exact up to 2^53 and refuses larger ones', () => {
    const big = BigInt(Number.MAX_SAFE_INTEGER);
    assert.equal(parseIoStat(`8:0 rbytes=${big}\n`, 'io.stat').bytes.get('8:0')?.read, Number.MAX_SAFE_INTEGER);
    assert.throws(() => parseIoStat(`8:0 rbytes=${big + 1n}\n`, 'io.stat'), ParseError);
  });

  it('rejects malformed lines with the line number', () => {
    assert.throws(() => parseIoStat('8:0 rbytes=1\nsda rbytes=1\n', 'io.stat'), (e: unknown) => e instanceof ParseError && /line 2/.test(e.message));
    assert.throws(() => parseIoStat('8:0 rbytes=abc\n', 'io.stat'), ParseError);
    assert.throws(() => parseIoStat('8:0 rbytes\n', 'io.stat'), ParseError);
  });
});

describe('parseBlkioThrottle', () => {
  it('takes Read and Write per device and skips Sync/Async/Discard/Total and the final Total', () => {
    const text =
      '8:0 Read 4096000\n8:0 Write 8192000\n8:0 Sync 8192000\n8:0 Async 4096000\n8:0 Discard 0\n8:0 Total 12288000\n' +
      '8:16 Read 10\n8:16 Write 20\n8:16 Total 30\nTotal 12288030\n';
    assert.deepEqual(Object.fromEntries(parseBlkioThrottle(text, 'f')), {
      '8:0': { read: 4096000, write: 8192000 },
      '8:16': { read: 10, write: 20 },
    });
  });

  it('an empty file or a lone Total means no I/O recorded', () => {
    assert.equal(parseBlkioThrottle('', 'f').size, 0);
    assert.equal(parseBlkioThrottle('Total 0\n', 'f').size, 0);
  });

  it('rejects malformed lines', () => {
    assert.throws(() => parseBlkioThrottle('8:0 Read\n', 'f'), (e: unknown) => e instanceof ParseError && /line 1/.test(e.message));
    assert.throws(() => parseBlkioThrottle('8:0 Read x\n', 'f'), ParseError);
    assert.throws(() => parseBlkioThrottle('sda Read 1\n', 'f'), ParseError);
    assert.throws(() => parseBlkioThrottle('Total many\n', 'f'), ParseError);
  });
});

describe('compareDeviceIds', () => {
  it('orders numerically by major then minor', () => {
    assert.deepEqual(['253:0', '8:16', '8:2', '259:0', '8:0'].sort(compareDeviceIds), ['8:0', '8:2', '8:16', '253:0', '259:0']);
  });
});
