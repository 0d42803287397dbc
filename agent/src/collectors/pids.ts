import { join } from '../fsread/join.js';
import type { PidsBlock } from '../../../shared/src/payload.js';
import { parseLimit, parseSingleCount } from '../cgroup/values.js';
import { readTextIfExists } from '../fsread/read-text.js';
import type { AgentEnv, Collector, CollectorReport } from './types.js';

/**
 * Tasks in the container's cgroup (docs/measurement.md §5): `pids.current` counts
 * threads, not processes; `pids.max` is `max` when unlimited (→ null).
 */
export function createPidsCollector(env: AgentEnv): Collector<'pids'> {
  return {
    name: 'pids',
    collect(_tick, report) {
      const block: PidsBlock = { current: null, max: null };
      const h = env.cgroup.controllers.pids;
      if (h === undefined) {
        const reason = 'no pids controller found (no v1 pids hierarchy mounted and no cgroup2)';
        report.unsupported('current', reason);
        report.unsupported('max', reason);
        return block;
      }
      // Not enabled means no pids.* files; skipping the opens saves the ~25 µs each failed one costs every tick.
      const enabled = env.cgroup.v2Controllers;
      if (h.version === 2 && enabled !== null && !enabled.has('pids')) {
        for (const field of ['current', 'max'] as const) {
          report.unsupported(
            field,
            `pids.${field} missing under ${h.dir}: the pids controller is not enabled for this cgroup (not delegated, or rootless)`,
          );
        }
        return block;
      }
      const missingWhy = (file: string): string =>
        `${file} missing under ${h.dir} (host root cgroup, or a kernel without the pids controller)`;
      block.current = readOne(join(h.dir, 'pids.current'), 'current', report, missingWhy, parseSingleCount);
      block.max = readOne(join(h.dir, 'pids.max'), 'max', report, missingWhy, parseLimit);
      return block;
    },
  };
}

function readOne(
  path: string,
  field: string,
  report: CollectorReport,
  missingWhy: (file: string) => string,
  parse: (text: string, what: string) => number | null,
): number | null {
  try {
    const text = readTextIfExists(path);
    if (text === null) {
      report.unsupported(field, missingWhy(`pids.${field}`));
      return null;
    }
    return parse(text, path);
  } catch (err) {
    report.failed(field, err);
    return null;
  }
}
