import assert from 'node:assert/strict';

/** Equal within floating-point rounding (relative 1e-9), and never null. */
export function assertClose(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null, `${what} is null, expected ${expected}`);
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}
