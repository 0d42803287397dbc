import { payloadSchema, type Payload } from '../../../shared/src/payload.js';

export type ParsedSample = { ok: true; payload: Payload } | { ok: false; error: string };

/** Validates one value read from Valkey against the wire contract. Never throws. */
export function parseSample(raw: string): ParsedSample {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const r = payloadSchema.safeParse(json);
  if (r.success) return { ok: true, payload: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid' };
}

/**
 * What identifies a sample without parsing it: its length, `timestamp` and
 * `seq`, found with native string search (~1 µs for a 4 kB value). A poll
 * re-reads every value, and parsing or hashing 10,000 of them each time cost
 * hundreds of milliseconds.
 */
export function sampleIdentity(raw: string): string | null {
  const t = raw.indexOf('"timestamp":"');
  const q = raw.indexOf('"seq":');
  if (t < 0 || q < 0) return null;
  const tEnd = raw.indexOf('"', t + 13);
  let qEnd = q + 6;
  while (qEnd < raw.length && raw.charCodeAt(qEnd) >= 48 && raw.charCodeAt(qEnd) <= 57) qEnd++;
  if (tEnd < 0 || tEnd - t > 60 || qEnd === q + 6) return null;
  // Numbers, not slices: a sliced string would keep the whole raw value alive.
  const ms = Date.parse(raw.slice(t + 13, tEnd));
  const seq = Number(raw.slice(q + 6, qEnd));
  return Number.isFinite(ms) ? `${raw.length}|${ms}|${seq}` : null;
}
