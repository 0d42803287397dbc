import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isContainerName } from '../../../shared/src/container-name.js';
import { payloadSchema } from '../../../shared/src/payload.js';
import { makePayload } from '../../test/helpers/payload.js';
import { parseSample, REJECT_REASONS } from './sample.js';

const valid = JSON.stringify(makePayload({ name: 'prop-1' }));

/** What every answer of parseSample must satisfy, whatever the input. */
function checkAnswer(raw: string, maxBytes: number): void {
  const r = parseSample(raw, maxBytes);
  if (!r.ok) {
    assert.ok(REJECT_REASONS.includes(r.reason));
    assert.ok(r.error.length <= 600, 'the error is short enough to log');
    return;
  }
  assert.ok(Buffer.byteLength(raw) <= maxBytes, 'nothing over the cap is taken');
  assert.ok(!r.json.includes('\n'), 'what goes on is one line (an SSE data field)');
  assert.ok(isContainerName(r.payload.container_name));
  // The re-serialised text is itself a valid sample of the same content, with nothing unknown left in it.
  const again = JSON.parse(r.json) as unknown;
  assert.deepEqual(payloadSchema.parse(again), again);
  assert.deepEqual(again, JSON.parse(JSON.stringify(r.payload)));
}

describe('parseSample under arbitrary input (fast-check)', () => {
  it('the base sample the properties start from is valid', () => {
    assert.equal(parseSample(valid).ok, true);
  });

  it('never throws on arbitrary text, and refuses it by a known reason', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (s) => {
        checkAnswer(s, 256 * 1024);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary JSON values, and a valid sample with any field replaced by any JSON value', () => {
    const base = JSON.parse(valid) as Record<string, unknown>;
    const keys = Object.keys(base);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 4 }), (any, key, value) => {
        checkAnswer(JSON.stringify(any), 256 * 1024);
        checkAnswer(JSON.stringify({ ...base, [key]: value }), 256 * 1024);
      }),
      { numRuns: 1500 },
    );
  });

  it('extra fields of any depth and __proto__ keys are dropped, never forwarded, never pollute prototypes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 8 }), fc.nat({ max: 20_000 }), (extra, value, depth) => {
        const nested = '['.repeat(depth + 1) + ']'.repeat(depth + 1);
        const raw = valid.slice(0, -1) + `,${JSON.stringify(`x_${extra}`)}:${JSON.stringify(value)},"__proto__":{"polluted":1},"deep":${nested}}`;
        checkAnswer(raw, 256 * 1024);
        const r = parseSample(raw, 256 * 1024);
        assert.ok(r.ok, 'unknown fields do not make a sample invalid');
        assert.ok(!r.json.includes('"deep"') && !r.json.includes('polluted') && !r.json.includes('"x_'));
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('the byte cap holds at its edge, multi-byte characters counted in bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.constantFrom('a', 'é', '€', '😀'), (n, ch) => {
        const padded = valid.slice(0, -1) + `,"pad":"${ch.repeat(n)}"}`;
        const bytes = Buffer.byteLength(padded);
        const cap = 6000;
        const r = parseSample(padded, cap);
        assert.equal(!r.ok && r.reason === 'too_large', bytes > cap, `${bytes} bytes against a cap of ${cap}`);
      }),
      { numRuns: 500 },
    );
  });
});
