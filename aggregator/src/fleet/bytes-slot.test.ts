import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BytesSlot } from './bytes-slot.js';

const copy = (b: Uint8Array): number[] => [...b];

describe('BytesSlot', () => {
  it('gives back the last bytes set, whatever the sequence of lengths (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 30 }), (values) => {
        const slot = new BytesSlot();
        for (const v of values) {
          slot.set(v);
          assert.deepEqual(slot.read(copy), [...v]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its own copy: changing the array it was given changes nothing', () => {
    const slot = new BytesSlot();
    const given = Uint8Array.from([1, 2, 3]);
    slot.set(given);
    given[0] = 9;
    assert.deepEqual(slot.read(copy), [1, 2, 3]);
  });

  it('holds nothing after clear', () => {
    const slot = new BytesSlot();
    assert.equal(slot.read(copy), null);
    slot.set(Uint8Array.from([1]));
    slot.clear();
    assert.equal(slot.read(copy), null);
  });
});
