/**
 * Reads the services out of `docker-compose config` output. That output is
 * normalized block YAML (two-space indent, one key per line), so a service is
 * the block under `services:` at indent 2; no YAML library is needed for the
 * few facts the packaging test checks.
 */
export interface ComposeService {
  name: string;
  /** The service's lines, indentation kept, the header line excluded. */
  lines: string[];
}

export function composeServices(config: string): ComposeService[] {
  const out: ComposeService[] = [];
  let inServices = false;
  let current: ComposeService | null = null;
  for (const line of config.split('\n')) {
    if (/^\S/.test(line)) {
      inServices = line.startsWith('services:');
      current = null;
      continue;
    }
    if (!inServices) continue;
    const header = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line);
    if (header?.[1] !== undefined) {
      current = { name: header[1], lines: [] };
      out.push(current);
    } else if (current !== null) {
      current.lines.push(line);
    }
  }
  return out;
}

/** A top-level scalar of a service (`    image: x` → "x"), or null. */
export function serviceScalar(s: ComposeService, key: string): string | null {
  for (const l of s.lines) {
    const m = new RegExp(`^ {4}${key}:\\s*(.+)$`).exec(l);
    if (m?.[1] !== undefined) return m[1].trim().replace(/^'(.*)'$/, '$1');
  }
  return null;
}

/** Whether the service has a top-level key (`    build:`). */
export function serviceHas(s: ComposeService, key: string): boolean {
  return s.lines.some((l) => new RegExp(`^ {4}${key}:`).test(l));
}

/** The service's text, for substring checks (entrypoint, environment). */
export function serviceText(s: ComposeService): string {
  return s.lines.join('\n');
}
