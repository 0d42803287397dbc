import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TextRing } from './text-ring.js';

describe('TextRing', () => {
  it('gives back each kept text exactly, newest kept, within its byte and item bounds (fast-check against the pushed list)', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 40 });
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 300 }), fc.integer({ min: 1, max: 30 }), fc.array(text, { maxLength: 200 }), (capacity, maxItems, texts) => {
        const ring = new TextRing<number>(capacity, maxItems);
        const pushed: { id: number; text: string; bytes: number; space: number }[] = [];
        texts.forEach((t, i) => {
          const id = i + 1;
          const bytes = Buffer.byteLength(t);
          // The space a text takes: its bytes, and one for an empty text.
          const space = Math.max(bytes, 1);
          const kept = ring.push(id, i * 7, t);
          assert.equal(kept, space <= capacity, 'refused only when larger than the whole buffer');
          pushed.push({ id, text: t, bytes, space });
          if (!kept) {
            assert.equal(ring.size, 0, 'a text too large empties the ring, so no replay crosses the gap');
            return;
          }
          // What is kept is the newest items, consecutive, each text intact.
          const first = ring.first;
          assert.ok(first !== undefined);
          assert.equal(first.id + ring.size - 1, id);
          let sum = 0;
          let used = 0;
          for (let k = first.id; k <= id; k += 1) {
            const item = ring.at(k);
            assert.ok(item !== undefined);
            const want = pushed[k - 1];
            assert.ok(want !== undefined);
            assert.equal(ring.text(item), want.text);
            assert.equal(item.meta, (k - 1) * 7);
            sum += want.bytes;
            used += want.space;
          }
          assert.equal(ring.bytes, sum);
          assert.ok(ring.size <= maxItems && used <= capacity);
          // Nothing dropped without need: the next older text (if pushed since the last refusal) could not have stayed.
          const older = pushed[first.id - 2];
          const lastRefused = pushed.findLastIndex((p) => p.space > capacity) + 1;
          if (older !== undefined && older.id > lastRefused && ring.size < maxItems) {
            const longest = Math.max(...pushed.slice(lastRefused).map((p) => p.space));
            // The only waste is the tail left when a text did not fit before the end: shorter than the longest text.
            assert.ok(used + older.space > capacity - longest, `kept ${used} bytes; the next older (${older.space}) would have fitted in ${capacity}`);
          }
        });
      }),
      { numRuns: 500, examples: [[11, 2, ["", " ", "\u{10000}\u{10000}\u0800"]]] },
    );
  });

  it('empties itself when ids skip, so an index never points at the wrong item', () => {
    const ring = new TextRing<null>(100, 10);
    ring.push(1, null, 'a');
    ring.push(2, null, 'b');
    ring.push(5, null, 'c');
    assert.equal(ring.size, 1);
    assert.equal(ring.at(2), undefined);
    const five = ring.at(5);
    assert.ok(five !== undefined);
    assert.equal(ring.text(five), 'c');
  });

  it('refuses bounds that are not positive integers', () => {
    assert.throws(() => new TextRing(0, 1), /capacity/);
    assert.throws(() => new TextRing(10, 0), /size/);
  });
});
