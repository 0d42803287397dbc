import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TextSlot } from './text-slot.js';

describe('TextSlot', () => {
  it('gives back the last text set, whatever the sequence of lengths and characters (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 3000 }), { minLength: 1, maxLength: 30 }), (texts) => {
        const slot = new TextSlot();
        for (const t of texts) {
          slot.set(t);
          assert.equal(slot.text(), t);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a text read earlier stays intact when the slot is overwritten (readers get copies)', () => {
    const slot = new TextSlot();
    slot.set('{"a":1}');
    const before = slot.text();
    slot.set('{"a":2}');
    assert.equal(before, '{"a":1}');
    assert.equal(slot.text(), '{"a":2}');
  });

  it('holds nothing after clear', () => {
    const slot = new TextSlot();
    assert.equal(slot.text(), null);
    slot.set('x');
    slot.clear();
    assert.equal(slot.text(), null);
    assert.equal(slot.empty, true);
  });
});
