import { z } from 'zod';
import { checkCapacity, capacityQuerySchema } from '../capacity.js';
import type { Fleet } from '../fleet/fleet.js';
import { historyQuerySchema, queryHistory } from '../history/query.js';
import type { HistoryRejects } from '../history/rejects.js';
import { HttpError, noQuery, query, route, sendJson, sendRawJson, type Route } from './router.js';
import { containerJson, listBody, RowCache, rowsWithSamples } from './views.js';

export interface FleetRouteDeps {
  fleet: Fleet;
  /** Default capacity safety buffer (share of the limit kept free). */
  capacityBuffer: number;
  /** Where refused history entries are counted and logged. */
  historyRejects?: HistoryRejects;
}

const containersQuery = z.strictObject({
  status: z.enum(['ok', 'stale', 'offline', 'exited']).optional(),
  /** `sample` adds each container's full latest sample (large for big fleets). */
  include: z.literal('sample', { error: 'the only value is "sample"' }).optional(),
});

/** The fleet's containers: the list, one container, its history, a capacity check, and every GPU. */
export function fleetRoutes(d: FleetRouteDeps): Route[] {
  const rowCache = new RowCache(d.fleet);
  return [
    route('/api/v1/containers', 'bearer', ({ res, url }) => {
      const q = query(url, containersQuery);
      const all = d.fleet.list();
      const shown = q.status === undefined ? all : all.filter((c) => c.status === q.status);
      const rows = q.include === 'sample' ? rowsWithSamples(shown) : rowCache.json(shown);
      sendRawJson(res, 200, listBody(rows, all));
    }),
    route('/api/v1/containers/:name', 'bearer', ({ res, url, params }) => {
      query(url, noQuery);
      const name = params.name ?? '';
      const c = d.fleet.get(name);
      if (c === null) throw new HttpError(404, `no container named "${name}" is known (it never published, or was pruned)`);
      const sample = c.sample();
      sendJson(res, 200, { ...containerJson(c), sample, sample_age_seconds: sample === null ? null : Math.max(0, (Date.now() - Date.parse(sample.timestamp)) / 1000) });
    }),
    route('/api/v1/containers/:name/history', 'bearer', async ({ res, url, params }) => {
      const q = query(url, historyQuerySchema(Date.now()));
      const name = params.name ?? '';
      if (d.fleet.get(name) === null) throw new HttpError(404, `no container named "${name}" is known (it never published, or was pruned)`);
      const client = d.fleet.client;
      if (client === null || !d.fleet.valkeyUp) throw new HttpError(503, 'Valkey is not reachable; history cannot be read now');
      const r = await queryHistory(client, name, q, d.historyRejects);
      sendJson(res, 200, { container: name, since: new Date(q.since).toISOString(), until: new Date(q.until).toISOString(), fields: q.fields, ...r });
    }),
    route('/api/v1/capacity', 'bearer', ({ res, url }) => {
      const q = query(url, capacityQuerySchema);
      const c = d.fleet.get(q.container);
      if (c === null) throw new HttpError(404, `no container named "${q.container}" is known (it never published, or was pruned)`);
      const sample = c.sample();
      if (sample === null) throw new HttpError(503, `no readable sample for "${q.container}" yet`);
      sendJson(res, 200, checkCapacity(sample, q, { buffer: q.buffer ?? d.capacityBuffer }));
    }),
    route('/api/v1/gpus', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      // Only containers with GPUs are parsed.
      const gpus = d.fleet
        .list()
        .filter((c) => (c.digest?.gpu_count ?? 0) > 0)
        .flatMap((c) => (c.sample()?.gpus ?? []).map((g) => ({ container: c.name, container_status: c.status, ...g })));
      sendJson(res, 200, { gpus });
    }),
  ];
}
