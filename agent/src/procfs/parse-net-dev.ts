import { ParseError, toSafeNumber } from '../cgroup/values.js';

/** Up to 15 digits: a safe integer, so `Number` is exact and no BigInt is needed. */
const SHORT_UNSIGNED = /^\d{1,15}$/;

/** One interface line of `/proc/net/dev`: the kernel's cumulative counters. */
export interface NetDevCounters {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  rxFifo: number;
  rxFrame: number;
  rxCompressed: number;
  rxMulticast: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
  txFifo: number;
  txCollisions: number;
  txCarrier: number;
  txCompressed: number;
}

const COUNTERS = 16;

/**
 * An interface line as the kernel prints it (a name without spaces, 16
 * counters of at most 15 digits): matched whole, in one step. Any other line
 * is read field by field below, which gives the same counters for these
 * lines (tested) and names what is wrong in the others.
 */
const KERNEL_LINE = new RegExp(`^\\s*([^:\\s]+):\\s*(\\d{1,15})${'\\s+(\\d{1,15})'.repeat(COUNTERS - 1)}\\s*$`);

/**
 * `/proc/net/dev` → one entry per interface, in the kernel's order.
 *
 * The kernel prints the name right-aligned in 6 columns followed by `:` and
 * the first counter with no space in between once the name or the number is
 * long (`eth0:1234`, `veth1a2b3c4:0`), so lines are split at the first `:`
 * rather than on whitespace. An interface name can never contain `:`
 * (`dev_valid_name` refuses it), so the first one is the separator.
 */
export function parseNetDev(text: string): NetDevCounters[] {
  const lines = text.split('\n');
  const header = lines[1] ?? '';
  if (!header.includes('|')) {
    throw new ParseError(`/proc/net/dev: expected two header lines, got ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  }
  const out: NetDevCounters[] = [];
  for (let l = 2; l < lines.length; l++) {
    const line = lines[l] ?? '';
    const m = KERNEL_LINE.exec(line);
    if (m !== null) {
      out.push(countersOf(m[1] ?? '', m, 2));
      continue;
    }
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new ParseError(`/proc/net/dev: no ':' in line ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon).trim();
    if (name === '') throw new ParseError(`/proc/net/dev: empty interface name in ${JSON.stringify(line.slice(0, 60))}`);
    const tokens = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (tokens.length !== COUNTERS) {
      throw new ParseError(`/proc/net/dev: ${name} has ${tokens.length} counters, expected ${COUNTERS}`);
    }
    const v: number[] = [];
    for (let i = 0; i < COUNTERS; i++) {
      const token = tokens[i] ?? '';
      // The common case, 16 per interface every tick: no BigInt, no error text made.
      if (SHORT_UNSIGNED.test(token)) {
        v.push(Number(token));
        continue;
      }
      const what = `/proc/net/dev ${name} counter ${i + 1}`;
      if (!/^\d+$/.test(token)) throw new ParseError(`${what}: expected an unsigned integer, got ${JSON.stringify(token.slice(0, 40))}`);
      v.push(toSafeNumber(BigInt(token), what));
    }
    out.push(countersOf(name, v, 0));
  }
  return out;
}

/** The counters from `v[from]` on (numbers, or the regex's digit strings) under their names. */
function countersOf(name: string, v: ArrayLike<string | number | undefined>, from: number): NetDevCounters {
  const at = (i: number): number => Number(v[from + i] ?? 0);
  return {
    name,
    rxBytes: at(0),
    rxPackets: at(1),
    rxErrors: at(2),
    rxDropped: at(3),
    rxFifo: at(4),
    rxFrame: at(5),
    rxCompressed: at(6),
    rxMulticast: at(7),
    txBytes: at(8),
    txPackets: at(9),
    txErrors: at(10),
    txDropped: at(11),
    txFifo: at(12),
    txCollisions: at(13),
    txCarrier: at(14),
    txCompressed: at(15),
  };
}
