import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from './line-splitter.js';

describe('LineSplitter', () => {
  it('joins lines split across chunks and keeps the unfinished tail', () => {
    const s = new LineSplitter(100);
    assert.deepEqual(s.push('{"a":1}\n{"b"'), ['{"a":1}']);
    assert.deepEqual(s.push(':2}\n\n{"c":3'), ['{"b":2}', '']);
    assert.deepEqual(s.push('}\n'), ['{"c":3}']);
  });

  it('drops a line longer than the limit whole, even across chunks, and says so', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(s.push('x'.repeat(8)), []);
    assert.deepEqual(s.push('y'.repeat(8)), []);
    assert.equal(s.overflowed, true);
    s.overflowed = false;
    // The rest of the long line, then a good one.
    assert.deepEqual(s.push('zz\nok\n'), ['ok']);
    assert.equal(s.overflowed, false);
    assert.deepEqual(s.push(`${'q'.repeat(11)}\nfine\n`), ['fine']);
    assert.equal(s.overflowed, true);
  });
});
