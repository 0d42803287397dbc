/**
 * Primitive value parsing shared by the cgroup and procfs parsers. Kernel
 * counters are 64-bit: parse as BigInt, test for "unlimited", and only then
 * convert to Number.
 */

/**
 * cgroup v1 reports "no limit" as PAGE_COUNTER_MAX rounded to the page size
 * (9223372036854771712), above 2^53; v2 writes `max`. Anything above 2^62 is
 * treated as unlimited.
 */
export const UNLIMITED_THRESHOLD = 1n << 62n;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

/** Parses a decimal integer token (optionally negative) as BigInt. */
export function parseBigIntToken(token: string, what: string): bigint {
  if (!/^-?\d+$/.test(token)) {
    throw new ParseError(`${what}: expected an integer, got ${JSON.stringify(token.slice(0, 40))}`);
  }
  return BigInt(token);
}

/** BigInt → Number for counters and byte sizes; refuses values a double cannot hold exactly. */
export function toSafeNumber(value: bigint, what: string): number {
  if (value > MAX_SAFE || value < -MAX_SAFE) {
    throw new ParseError(`${what}: ${value} does not fit a safe integer`);
  }
  return Number(value);
}

/** Counter value: negative values (a known memory.stat kernel bug) clamp to 0. */
export function toCount(value: bigint, what: string): number {
  return value < 0n ? 0 : toSafeNumber(value, what);
}

/**
 * At most 15 digits (optionally negative): always a safe integer, so
 * `Number` gives exactly what the BigInt path gives, without making a BigInt.
 */
const SHORT_INTEGER = /^-?\d{1,15}$/;

/**
 * `toCount(parseBigIntToken(token, what()), what())`, the same value or the
 * same error, for the tokens the parsers read every tick: the common short
 * token makes no BigInt, and `what` (a string built per call) is only asked
 * for when there is an error to name it in.
 */
export function countToken(token: string, what: () => string): number {
  if (SHORT_INTEGER.test(token)) {
    const n = Number(token);
    // -0 and negatives clamp to 0, as toCount does.
    return n > 0 ? n : 0;
  }
  const w = what();
  return toCount(parseBigIntToken(token, w), w);
}

/**
 * A limit file: `max` (v2), `-1` (v1 cpu quota) or a huge v1 value → null
 * (unlimited); otherwise the number.
 */
export function parseLimit(text: string, what: string): number | null {
  const token = text.trim();
  if (token === 'max' || token === '-1') return null;
  const value = parseBigIntToken(token, what);
  if (value < 0n || value > UNLIMITED_THRESHOLD) return null;
  return toSafeNumber(value, what);
}

/** A single-number file such as `memory.current`. */
export function parseSingleCount(text: string, what: string): number {
  return toCount(parseBigIntToken(text.trim(), what), what);
}

/** A keyed file's value: an integer, maybe negative. */
const KEYED_TOKEN = /^-?\d+$/;

/**
 * Flat keyed files (`cpu.stat`, `memory.stat`, `memory.events`,
 * `memory.oom_control`): `key value` per line. Unknown keys are kept but
 * callers look values up by name; lines that do not parse are skipped so that
 * a new kernel format cannot break the known keys.
 */
export function parseKeyedFile(text: string, wanted?: ReadonlySet<string>): Map<string, bigint> {
  if (wanted !== undefined) return parseWantedKeys(text, wanted);
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space);
    const token = line.slice(space + 1).trim();
    if (!KEYED_TOKEN.test(token)) continue;
    out.set(key, BigInt(token));
  }
  return out;
}

/**
 * `parseKeyedFile` for a few wanted keys of a long file (v1 `memory.stat`
 * has ~70 lines, of which 6 are used): each wanted key is looked for where it
 * starts a line, by the string search built into the runtime, instead of
 * splitting and slicing every line. Same answer as reading every line and
 * keeping the wanted ones: a key's last valid line wins, a line whose value
 * is not an integer is skipped.
 */
function parseWantedKeys(text: string, wanted: ReadonlySet<string>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const key of wanted) {
    let from = text.length;
    while (from >= 0) {
      const at = text.lastIndexOf(key, from);
      if (at < 0) break;
      from = at - 1;
      const after = at + key.length;
      if ((at !== 0 && text.charCodeAt(at - 1) !== 10) || text.charCodeAt(after) !== 32) continue;
      const end = text.indexOf('\n', after);
      const token = text.slice(after + 1, end < 0 ? text.length : end).trim();
      if (!KEYED_TOKEN.test(token)) continue;
      out.set(key, BigInt(token));
      break;
    }
  }
  return out;
}

/** Reads a counter from a keyed file, `null` when the key is absent. */
export function keyedCount(map: ReadonlyMap<string, bigint>, key: string, what: string): number | null {
  const v = map.get(key);
  if (v === undefined) return null;
  // The name for an error is only built when there is one (this runs for every key read, every tick).
  return v >= 0n && v <= MAX_SAFE ? Number(v) : toCount(v, `${what} ${key}`);
}

/**
 * CPU list format (`0-3,6`, used by cpuset and /sys/devices/system/cpu/online)
 * → number of CPUs. Empty → 0.
 */
export function parseCpuListCount(text: string, what: string): number {
  const trimmed = text.trim();
  if (trimmed === '') return 0;
  let n = 0;
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) throw new ParseError(`${what}: bad CPU list element ${JSON.stringify(part)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new ParseError(`${what}: bad CPU range ${part}`);
    n += hi - lo + 1;
  }
  return n;
}
