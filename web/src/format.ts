/** Display formatting: pure functions, "—" for a value that is not there (never a made-up 0). */

export const NONE = '—';

function isNum(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; three significant digits. */
export function fmtBytes(v: number | null | undefined): string {
  if (!isNum(v)) return NONE;
  let x = Math.abs(v);
  let i = 0;
  while (x >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i += 1;
  }
  const digits = i === 0 || x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return `${v < 0 ? '-' : ''}${x.toFixed(digits)} ${UNITS[i] ?? 'B'}`;
}

export function fmtRate(v: number | null | undefined): string {
  return isNum(v) ? `${fmtBytes(v)}/s` : NONE;
}

export function fmtPercent(v: number | null | undefined, digits = 1): string {
  return isNum(v) ? `${v.toFixed(digits)} %` : NONE;
}

export function fmtNumber(v: number | null | undefined, digits = 2): string {
  if (!isNum(v)) return NONE;
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

/** Seconds → "3d 4h", "2h 5m", "4m 10s", "12s". */
export function fmtDuration(seconds: number | null | undefined): string {
  if (!isNum(seconds) || seconds < 0) return NONE;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Time since `iso` at `now`: "5s ago". */
export function fmtAgo(iso: string | null | undefined, now: number): string {
  if (iso === null || iso === undefined) return NONE;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return NONE;
  return `${fmtDuration(Math.max(0, (now - t) / 1000))} ago`;
}

/** "1.25 / 4 cores". */
export function fmtCores(used: number | null | undefined, limit: number | null | undefined): string {
  return `${isNum(used) ? used.toFixed(2) : NONE} / ${isNum(limit) ? fmtNumber(limit) : NONE}`;
}

/** 100 × part / whole, or null when either is missing or whole is 0. */
export function percentOf(part: number | null | undefined, whole: number | null | undefined): number | null {
  return isNum(part) && isNum(whole) && whole > 0 ? (100 * part) / whole : null;
}
