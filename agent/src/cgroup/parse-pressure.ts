import { ParseError, parseBigIntToken, toSafeNumber } from './values.js';

/**
 * PSI files (`cpu.pressure`, `memory.pressure`, `io.pressure`):
 *
 *     some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
 *     full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *
 * `avg*` are percentages with two decimals, `total` is cumulative stall time
 * in microseconds. Kernels before 5.13 print no `full` line in cpu.pressure.
 */

export interface PressureFigures {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Cumulative stall time in µs. */
  totalUs: number;
}

export interface Pressure {
  some: PressureFigures;
  full: PressureFigures | null;
}

const DECIMAL = /^\d+(?:\.\d+)?$/;
/** Up to 15 digits: a safe integer, so `Number` is exact. */
const SHORT_UNSIGNED = /^\d{1,15}$/;

/** A PSI line exactly as the kernel prints it, totals of at most 15 digits (exact as a double). */
const KERNEL_LINE = /^(some|full) avg10=(\d+(?:\.\d+)?) avg60=(\d+(?:\.\d+)?) avg300=(\d+(?:\.\d+)?) total=(\d{1,15})$/;

/**
 * PSI file → figures. The kernel's own layout (every line a `some` or `full`
 * line as above) is read with one match per line; anything else (more
 * fields, other spacing, huge totals, or an error to report) is read by
 * {@link parsePressureAnyLayout}, which gives the same figures for the
 * kernel's layout (tested) and names what is wrong otherwise. Host mode reads
 * three of these per container per tick, so the common case is kept short.
 */
export function parsePressure(text: string, what: string): Pressure {
  let some: PressureFigures | null = null;
  let full: PressureFigures | null = null;
  let from = 0;
  while (from < text.length) {
    let end = text.indexOf('\n', from);
    if (end < 0) end = text.length;
    if (end > from) {
      const m = KERNEL_LINE.exec(text.slice(from, end));
      if (m === null) return parsePressureAnyLayout(text, what);
      const figures = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), totalUs: Number(m[5]) };
      if (m[1] === 'some') some = figures;
      else full = figures;
    }
    from = end + 1;
  }
  if (some === null) return parsePressureAnyLayout(text, what);
  return { some, full };
}

/** PSI file in any layout the kernel could grow into: whitespace-separated `key=value` fields, extra fields and lines ignored. */
export function parsePressureAnyLayout(text: string, what: string): Pressure {
  let some: PressureFigures | null = null;
  let full: PressureFigures | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const tokens = (lines[i] ?? '').trim().split(/\s+/);
    const kind = tokens[0] ?? '';
    if (kind !== 'some' && kind !== 'full') continue;
    const figures = parseFigures(tokens.slice(1), `${what} line ${i + 1} (${kind})`);
    if (kind === 'some') some = figures;
    else full = figures;
  }
  if (some === null) throw new ParseError(`${what}: no "some" line`);
  return { some, full };
}

function parseFigures(tokens: string[], where: string): PressureFigures {
  const values = new Map<string, string>();
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq <= 0) throw new ParseError(`${where}: expected key=value, got ${JSON.stringify(token.slice(0, 40))}`);
    values.set(token.slice(0, eq), token.slice(eq + 1));
  }
  const avg = (key: string): number => {
    const v = values.get(key);
    if (v === undefined || !DECIMAL.test(v)) {
      throw new ParseError(`${where}: ${key} ${v === undefined ? 'missing' : `is not a number: ${JSON.stringify(v.slice(0, 40))}`}`);
    }
    return Number(v);
  };
  const total = values.get('total');
  if (total === undefined) throw new ParseError(`${where}: total missing`);
  // The common case: no BigInt (≤ 15 digits is exact as a double).
  const totalUs = SHORT_UNSIGNED.test(total) ? Number(total) : null;
  if (totalUs !== null) return { avg10: avg('avg10'), avg60: avg('avg60'), avg300: avg('avg300'), totalUs };
  const totalValue = parseBigIntToken(total, `${where} total`);
  if (totalValue < 0n) throw new ParseError(`${where}: total is negative (${total})`);
  return {
    avg10: avg('avg10'),
    avg60: avg('avg60'),
    avg300: avg('avg300'),
    totalUs: toSafeNumber(totalValue, `${where} total`),
  };
}
