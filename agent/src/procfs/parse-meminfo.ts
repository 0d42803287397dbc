import { ParseError } from '../cgroup/values.js';

/**
 * `/proc/meminfo` → bytes by key. Values are in kB (KiB) when suffixed with
 * `kB`; the HugePages_* counts have no unit and are kept as plain numbers.
 */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (m === null) continue;
    const [, key, value, unit] = m;
    if (key === undefined || value === undefined) continue;
    out.set(key, unit === 'kB' ? Number(value) * 1024 : Number(value));
  }
  return out;
}

export function memTotalBytes(text: string): number {
  const total = parseMeminfo(text).get('MemTotal');
  if (total === undefined) throw new ParseError('/proc/meminfo: no MemTotal line');
  return total;
}
