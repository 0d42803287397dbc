import { z } from 'zod';
import type { Fleet } from '../fleet/fleet.js';
import type { HistoryRejects } from '../history/rejects.js';
import type { LoopLag } from '../loop-lag.js';
import type { ConnectionLimiter } from './limits.js';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './prometheus.js';
import { HttpError, noQuery, query, route, sendJson, type Route } from './router.js';
import { SSE_EVENT_TYPES, type SseEventType, type SseHub } from './sse.js';

export interface OpsRouteDeps {
  fleet: Fleet;
  sse: SseHub;
  version: string;
  /** Event-loop delay, for /readyz and /metrics. */
  loopLag?: () => LoopLag;
  /** Refused history entries, for /metrics. */
  historyRejects?: HistoryRejects;
}

const nameList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''))
  .pipe(z.array(z.string().max(200)).min(1, 'must name at least one container').max(1000));

const eventsQuery = z.strictObject({
  container: nameList.optional(),
  types: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''))
    .pipe(z.array(z.enum(SSE_EVENT_TYPES, { error: `must be a comma-separated list of ${SSE_EVENT_TYPES.join(', ')}` })).min(1))
    .optional(),
  token: z.string().optional(),
  lastEventId: z.string().regex(/^\d+$/, 'must be a whole number').optional(),
});

/** Liveness, readiness, the event stream and Prometheus' /metrics. */
export function opsRoutes(d: OpsRouteDeps, extra: { warnings: string[]; connections: ConnectionLimiter }): Route[] {
  return [
    route('/healthz', 'open', ({ res, url }) => {
      query(url, noQuery);
      sendJson(res, 200, { status: 'ok', version: d.version });
    }),
    route('/readyz', 'open', ({ res }) => {
      const mem = process.memoryUsage();
      const fleet = {
        ...d.fleet.stats, containers: d.fleet.size, sse: d.sse.stats, event_loop_delay: d.loopLag?.() ?? null,
        memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed }, http: extra.connections.stats,
      };
      const warnings = extra.warnings;
      if (d.fleet.ready) sendJson(res, 200, { status: 'ready', warnings, fleet });
      else sendJson(res, 503, { status: 'not ready', error: d.fleet.valkeyUp ? 'first fleet sync not done yet' : 'Valkey is not reachable', warnings, fleet });
    }),
    route('/api/v1/events', 'query-token', ({ req, res, url }) => {
      const q = query(url, eventsQuery);
      const address = req.socket.remoteAddress ?? 'unknown';
      const refused = d.sse.admit(address);
      if (refused !== null) throw new HttpError(refused.status, refused.error);
      const header = req.headers['last-event-id'];
      const last = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : q.lastEventId === undefined ? null : Number(q.lastEventId);
      d.sse.attach(res, { containers: q.container ? new Set(q.container) : null, types: q.types ? new Set<SseEventType>(q.types) : null }, last, address);
    }),
    route('/metrics', 'bearer', async ({ res, url }) => {
      query(url, noQuery);
      const st = d.fleet.stats;
      const sse = d.sse.stats;
      const text = await renderMetrics(d.fleet.list(), {
        valkeyUp: d.fleet.valkeyUp,
        pollSeconds: st.last_poll_ms === null ? null : st.last_poll_ms / 1000,
        pollLoopSeconds: st.last_poll_loop_ms === null ? null : st.last_poll_loop_ms / 1000,
        pollIngestSeconds: st.last_poll_ingest_ms === null ? null : st.last_poll_ingest_ms / 1000,
        ingestRestartsTotal: st.ingest_restarts_total,
        ingestDroppedSamplesTotal: st.ingest_dropped_samples_total,
        pollsTotal: st.polls_total,
        pollErrorsTotal: st.poll_errors_total,
        invalidPayloadsTotal: st.invalid_payloads_total,
        rejectedByReason: st.rejected_by_reason,
        samplesReceivedTotal: st.samples_received_total,
        sseClients: sse.clients,
        sseDroppedTotal: sse.dropped_clients_total,
        sseEventsTotal: sse.events_total,
        loopLag: d.loopLag?.() ?? null,
        historyRejected: d.historyRejects?.totals,
      });
      res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    }),
  ];
}
