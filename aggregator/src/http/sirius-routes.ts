import { z } from 'zod';
import { siriusAdminCommandSchema } from '../../../shared/src/sirius.js';
import type { Fleet } from '../fleet/fleet.js';
import { readNewestLogs } from '../logs.js';
import { siriusHealth } from '../sirius-health.js';
import { siriusRow, siriusSummary } from '../sirius.js';
import { HttpError, jsonBody, noQuery, postRoute, query, route, sendJson, type Route } from './router.js';

export interface SiriusRouteDeps {
  fleet: Fleet;
  version: string;
  /** The agents' default interval, for staleness messages. */
  intervalSeconds: number;
}

const logsQuery = z.strictObject({
  container: z.string().min(1).max(200).default('all'),
  lines: z
    .string()
    .regex(/^\d+$/, 'must be a whole number from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
    .default(100),
});

/** SiriusScan's `/api/v1/system/*` and `/api/v1/admin/command`, in the shapes its UI parses (shared/src/sirius.ts). */
export function siriusRoutes(d: SiriusRouteDeps): Route[] {
  return [
    route('/api/v1/system/resources', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      const list = d.fleet.list();
      const rows = list.map(siriusRow);
      sendJson(res, 200, { message: 'System resources retrieved successfully', timestamp: new Date().toISOString(), containers: rows, summary: siriusSummary(list, rows) });
    }),
    route('/api/v1/system/logs', 'bearer', async ({ res, url }) => {
      const q = query(url, logsQuery);
      const client = d.fleet.client;
      if (client === null || !d.fleet.valkeyUp) throw new HttpError(503, 'Valkey is not reachable; logs cannot be read now');
      const { logs } = await readNewestLogs(client, q.container === 'all' ? null : q.container, q.lines);
      const names = [...new Set(logs.map((l) => l.container_name))].sort();
      sendJson(res, 200, {
        message: 'Logs retrieved successfully',
        timestamp: new Date().toISOString(),
        container: q.container,
        lines: q.lines,
        logs,
        summary: { total_logs: logs.length, containers: names },
      });
    }),
    route('/api/v1/system/health', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      const viewProblem = !d.fleet.valkeyUp
        ? 'Valkey is not reachable: the statuses are the last ones seen and may be out of date'
        : !d.fleet.ready
          ? 'the first fleet sync is not done yet'
          : null;
      const { httpStatus, body } = siriusHealth(d.fleet.list(), { nowMs: Date.now(), defaultIntervalS: d.intervalSeconds, version: d.version, viewProblem });
      sendJson(res, httpStatus, body);
    }),
    postRoute('/api/v1/admin/command', 'bearer', async ({ req, res }) => {
      const cmd = await jsonBody(req, siriusAdminCommandSchema);
      sendJson(res, 501, {
        error:
          `not supported: this aggregator reads metrics and does not control containers, so "${cmd.action}" for "${cmd.container_name}" was not sent. ` +
          'Use the container engine instead (for example: docker restart <container>).',
      });
    }),
  ];
}
