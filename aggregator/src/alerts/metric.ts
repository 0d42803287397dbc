import type { Payload } from '../../../shared/src/payload.js';

/** One value of a metric path: `instance` names the array element (GPU uuid), null for scalar paths. */
export interface MetricValue {
  instance: string | null;
  value: number | null;
}

/** Fields computed from others because the payload carries only the parts. */
const derived: Record<string, (el: Record<string, unknown>) => unknown> = {
  memory_used_percent: (el) => {
    const used = el.memory_used_bytes;
    const total = el.memory_total_bytes;
    return typeof used === 'number' && typeof total === 'number' && total > 0 ? (100 * used) / total : null;
  },
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How an array element is named: GPUs by uuid (indices are renumbered inside containers), others by name. */
function elementName(el: unknown, index: number): string {
  if (isRecord(el)) {
    for (const k of ['uuid', 'name', 'device', 'path']) {
      const v = el[k];
      if (typeof v === 'string' && v !== '') return v;
    }
  }
  return String(index);
}

function field(obj: unknown, name: string): unknown {
  if (!isRecord(obj)) return undefined;
  if (name in obj) return obj[name];
  return derived[name]?.(obj);
}

interface Segment {
  name: string;
  isArray: boolean;
}

/** Split paths: evaluation runs per rule per sample, and splitting each time showed in profiles. */
const segmentCache = new Map<string, Segment[]>();

function segmentsOf(path: string): Segment[] {
  let segs = segmentCache.get(path);
  if (segs === undefined) {
    segs = path.split('.').map((seg) => (seg.endsWith('[]') ? { name: seg.slice(0, -2), isArray: true } : { name: seg, isArray: false }));
    // Paths come from the rules file, so this stays small; the cap guards against a caller passing arbitrary input.
    if (segmentCache.size >= 1000) segmentCache.clear();
    segmentCache.set(path, segs);
  }
  return segs;
}

/**
 * Evaluates a path such as `memory_percent`, `cpu.throttled_percent` or
 * `gpus[].temperature_c` (one value per GPU). A missing, null or non-numeric
 * value is `null`, never 0.
 */
export function evaluateMetric(payload: Payload, path: string): MetricValue[] {
  let cur: { instance: string | null; node: unknown }[] = [{ instance: null, node: payload }];
  for (const { name, isArray } of segmentsOf(path)) {
    const next: { instance: string | null; node: unknown }[] = [];
    for (const c of cur) {
      const v = field(c.node, name);
      if (!isArray) next.push({ instance: c.instance, node: v });
      else if (Array.isArray(v)) {
        v.forEach((el: unknown, i) => {
          const n = elementName(el, i);
          next.push({ instance: c.instance === null ? n : `${c.instance}/${n}`, node: el });
        });
      }
    }
    cur = next;
  }
  return cur.map((c) => ({ instance: c.instance, value: typeof c.node === 'number' && Number.isFinite(c.node) ? c.node : null }));
}

/** Shell-style glob (`*`, `?`) on a whole container name. */
export function globMatch(name: string, glob: string): boolean {
  let re = globCache.get(glob);
  if (re === undefined) {
    re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    // Globs come from the rules file, so this stays small; the cap guards against a caller passing arbitrary input.
    if (globCache.size >= 1000) globCache.clear();
    globCache.set(glob, re);
  }
  return re.test(name);
}

/** Compiled globs: matching runs per rule per sample and per tick, compiling each time showed in profiles. */
const globCache = new Map<string, RegExp>();

export function matchesContainer(name: string, globs: readonly string[] | undefined): boolean {
  return globs === undefined || globs.some((g) => globMatch(name, g));
}

/** Formats a value for messages: at most two decimals, no trailing zeros. */
export function formatValue(v: number | null): string {
  return v === null ? 'unknown' : String(Math.round(v * 100) / 100);
}

/** Replaces `{{container}}`, `{{value}}`, `{{gpu}}` and `{{labels.x}}`; unknown names stay visible as-is. */
export function renderTemplate(tpl: string, vars: Record<string, string>): string {
  return tpl.replace(/\{\{\s*([a-z_.]+)\s*\}\}/gi, (whole, key: string) => vars[key] ?? whole);
}
