import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import { parsePressure, parsePressureAnyLayout } from './parse-pressure.js';
import { ParseError } from './values.js';

describe('parsePressure', () => {
  it('reads the some and full lines', () => {
    const p = parsePressure('some avg10=1.50 avg60=0.80 avg300=0.20 total=123456\nfull avg10=0.50 avg60=0.10 avg300=0.00 total=23456\n', 'cpu.pressure');
    assert.deepEqual(p, {
      some: { avg10: 1.5, avg60: 0.8, avg300: 0.2, totalUs: 123456 },
      full: { avg10: 0.5, avg60: 0.1, avg300: 0, totalUs: 23456 },
    });
  });

  it('a kernel without a full line (cpu before 5.13) gives full null', () => {
    const p = parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', 'cpu.pressure');
    assert.equal(p.full, null);
    assert.equal(p.some.totalUs, 0);
  });

  it('reads a total of 16 digits (past the fast path) exactly, and refuses one past 2^53', () => {
    const p = parsePressure('some avg10=1.00 avg60=0.50 avg300=0.25 total=1234567890123456\n', 'cpu.pressure');
    assert.deepEqual(p.some, { avg10: 1, avg60: 0.5, avg300: 0.25, totalUs: 1_234_567_890_123_456 });
    assert.throws(() => parsePressure('some avg10=0 avg60=0 avg300=0 total=9007199254740993\n', 'cpu.pressure'), /safe integer/);
  });

  it('ignores unknown keys and unknown lines', () => {
    const p = parsePressure('some avg10=2.00 avg60=1.00 avg300=0.50 total=7 extra=9\nnew thing\n', 'io.pressure');
    assert.deepEqual(p.some, { avg10: 2, avg60: 1, avg300: 0.5, totalUs: 7 });
  });

  it('rejects missing or malformed figures and a file without a some line', () => {
    assert.throws(() => parsePressure('', 'x'), (e: unknown) => e instanceof ParseError && /no "some" line/.test(e.message));
    assert.throws(() => parsePressure('some avg10=1.00 avg60=0.00 avg300=0.00\n', 'x'), /total missing/);
    assert.throws(() => parsePressure('some avg10=abc avg60=0.00 avg300=0.00 total=1\n', 'x'), /avg10 is not a number/);
    assert.throws(() => parsePressure('some avg10=1.00 avg60=0.00 avg300=0.00 total=-5\n', 'x'), ParseError);
    assert.throws(() => parsePressure('some avg10=1.00 avg60 avg300=0.00 total=5\n', 'x'), /line 1/);
  });
});

describe('parsePressure: the kernel-layout fast path', () => {
  /** Figures or the error message, so both paths are compared whole. */
  const outcome = (f: () => unknown): unknown => {
    try {
      return { ok: f() };
    } catch (err) {
      return { error: err instanceof ParseError ? err.message : String(err) };
    }
  };

  it('gives exactly what the any-layout reader gives, for kernel lines and for everything else', () => {
    const num = fc.oneof(fc.constantFrom('0.00', '1.50', '100.00', '7', '0.5', '', 'abc', '-1.00'), fc.integer({ min: 0, max: 99_999 }).map((n) => (n / 100).toFixed(2)));
    const total = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String), fc.constantFrom('-5', 'x', ''));
    const kernelLine = fc.tuple(fc.constantFrom('some', 'full', 'half'), num, num, num, total).map(([k, a, b, c, t]) => `${k} avg10=${a} avg60=${b} avg300=${c} total=${t}`);
    const oddLine = fc.constantFrom('', '  ', 'some avg10=1.00 avg60=0.00 avg300=0.00', 'full  avg10=1.00 avg60=2.00 avg300=3.00 total=4', 'some avg10=1.00 avg60=0.00 avg300=0.00 total=5 extra=1', 'some avg60', 'new thing');
    fc.assert(
      fc.property(fc.array(fc.oneof(kernelLine, kernelLine, oddLine), { maxLength: 4 }), fc.boolean(), (lines, trailing) => {
        const text = lines.join('\n') + (trailing ? '\n' : '');
        assert.deepEqual(outcome(() => parsePressure(text, 'cpu.pressure')), outcome(() => parsePressureAnyLayout(text, 'cpu.pressure')), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
  });
});
