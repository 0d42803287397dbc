import { payloadSchema, type Payload } from '../../../shared/src/payload.js';

/** Why a value read from Valkey was refused; each is a label value of `system_monitor_invalid_payloads_total`. */
export const REJECT_REASONS = ['too_large', 'not_json', 'schema', 'name_mismatch', 'bad_name', 'bad_score', 'unregistered'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Default byte cap of one value before it is parsed (an agent's sample is a few KiB). */
export const DEFAULT_MAX_SAMPLE_BYTES = 256 * 1024;

/**
 * A valid sample and its JSON re-serialised from the validated object:
 * unknown fields are gone, the text is one line, and this is the only text
 * that goes on to the main thread and to clients.
 */
export type ParsedSample = { ok: true; payload: Payload; json: string } | { ok: false; reason: RejectReason; error: string };

/** UTF-8 size of `s` without encoding it when its length alone decides. */
function overBytes(s: string, max: number): boolean {
  if (s.length > max) return true;
  // A UTF-16 code unit is at most 3 UTF-8 bytes.
  if (s.length * 3 <= max) return false;
  return Buffer.byteLength(s, 'utf8') > max;
}

/** Validates one value read from Valkey against the wire contract. Never throws. */
export function parseSample(raw: string, maxBytes = DEFAULT_MAX_SAMPLE_BYTES): ParsedSample {
  if (overBytes(raw, maxBytes)) return { ok: false, reason: 'too_large', error: `larger than ${maxBytes} bytes (${raw.length} characters)` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not_json', error: 'not JSON' };
  }
  const r = payloadSchema.safeParse(json);
  if (r.success) return { ok: true, payload: r.data, json: JSON.stringify(r.data) };
  const issue = r.error.issues[0];
  const where = issue ? issue.path.map(String).join('.').slice(0, 200) || '(root)' : '(root)';
  return { ok: false, reason: 'schema', error: issue ? `${where}: ${issue.message.slice(0, 300)}` : 'invalid' };
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
