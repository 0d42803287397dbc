import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ContainerRow, FleetSummary } from '../../../shared/src/api.js';
import type { Payload } from '../../../shared/src/payload.js';
import type { AlertService } from '../alerts/service.js';
import { checkCapacity, capacityQuerySchema } from '../capacity.js';
import type { ContainerView, Fleet } from '../fleet.js';
import { historyQuerySchema, queryHistory } from '../history/query.js';
import type { LoopLag } from '../loop-lag.js';
import { fleetTotals } from '../sirius.js';
import { principalOf, type Principal, type TokenTable } from './auth.js';
import { CorsPolicy } from './cors.js';
import { exposureWarning, HostPolicy } from './exposure.js';
import { ConnectionLimiter, DEFAULT_HTTP_LIMITS, serverOptions, type HttpLimits } from './limits.js';
import { HttpError, noQuery, query, route, sendJson, sendRawJson, type Route } from './router.js';
import { alertRoutes } from './alert-routes.js';
import { siriusRoutes } from './sirius-routes.js';
import { isDashboardPath, type Dashboard } from './static.js';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './prometheus.js';
import { SSE_EVENT_TYPES, type SseEventType, type SseHub } from './sse.js';

export interface ServerDeps {
  fleet: Fleet;
  sse: SseHub;
  log: Logger;
  tokens: TokenTable | null;
  corsOrigins: string[];
  version: string;
  /** Alerting (routes answer 503 without it). */
  alerts?: AlertService;
  /** Default capacity safety buffer (share of the limit kept free). */
  capacityBuffer?: number;
  /** Event-loop delay, for /readyz and /metrics. */
  loopLag?: () => LoopLag;
  /** The agents' default interval in seconds (staleness messages); 5 when not given. */
  intervalSeconds?: number;
  /** The browser dashboard at `/` (open: its files carry no data; the page sends the token to /api). */
  dashboard?: Dashboard | null;
  /** Connection caps and timeouts (DEFAULT_HTTP_LIMITS when not given). */
  limits?: HttpLimits;
  /** Host names served besides loopback ones without tokens (ALLOWED_HOSTS). */
  allowedHosts?: string[];
  /** The listen address, for the warning when it is beyond loopback and no tokens are set. */
  listenHost?: string;
}

/** Routes every Host may reach: probes from orchestrators use the pod's address, and these carry no fleet data. */
const ANY_HOST_PATHS = new Set(['/healthz', '/readyz']);

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

const containersQuery = z.strictObject({
  status: z.enum(['ok', 'stale', 'offline', 'exited']).optional(),
  /** `sample` adds each container's full latest sample (large for big fleets). */
  include: z.literal('sample', { error: 'the only value is "sample"' }).optional(),
});

const alertHistoryQuery = z.strictObject({
  count: z
    .string()
    .regex(/^\d+$/, 'must be a whole number from 1 to 10000')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'))
    .default(100),
});

/** One container in a list: status and the headline figures; the full sample only when asked for. */
function containerJson(c: ContainerView, withSample: boolean): ContainerRow {
  const p = c.sample;
  return {
    name: c.name,
    status: c.status,
    last_seen: new Date(c.last_seen_ms).toISOString(),
    sample_time: p?.timestamp ?? null,
    cpu_percent: p?.cpu_percent ?? null,
    cpu_cores: p?.cpu?.cores_used ?? null,
    cpu_limit_cores: p?.cpu?.limit_cores ?? null,
    memory_bytes: p?.memory_usage_bytes ?? null,
    memory_limit_bytes: p?.memory?.limit_bytes ?? null,
    memory_percent: p?.memory_percent ?? null,
    gpus: p?.gpus.length ?? 0,
    ...(withSample ? { sample: p } : {}),
  };
}

function fleetSummary(list: readonly ContainerView[]): FleetSummary {
  const counts = { ok: 0, stale: 0, offline: 0, exited: 0 };
  for (const c of list) counts[c.status] += 1;
  const t = fleetTotals(list);
  return {
    total: list.length,
    by_status: counts,
    cpu: { cores_used: t.cores_used, cores_limit: t.cores_limit, percent: t.cores_limit > 0 ? (100 * t.cores_used) / t.cores_limit : null },
    memory: { used_bytes: t.memory_bytes, limit_bytes: t.memory_limit_bytes, percent: t.memory_limit_bytes > 0 ? (100 * t.memory_bytes) / t.memory_limit_bytes : null },
  };
}

/**
 * The JSON of each list row as bytes, kept until the container's sample,
 * status or last-seen time changes, and, while the list is being read,
 * rebuilt right after a change (one batch per event-loop turn) rather than
 * on the next request: a
 * 10,000-container list is then a copy of cached buffers, with no
 * serialising or UTF-8 encoding while the client waits.
 */
class RowCache {
  private readonly rows = new Map<string, { sample: Payload | null; status: string; seen: number; buf: Buffer }>();
  private readonly stale = new Set<string>();
  private scheduled = false;
  /** Rows are rebuilt ahead only while someone reads the list (no serialising for nobody). */
  private lastRead = -Infinity;

  constructor(private readonly fleet: Fleet) {
    fleet.onSample((p) => {
      this.touch(p.container_name);
    });
    fleet.onStatus((name) => {
      this.touch(name);
    });
  }

  private touch(name: string): void {
    if (performance.now() - this.lastRead > 60_000) return;
    this.stale.add(name);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const n of this.stale) {
        const c = this.fleet.get(n);
        if (c !== null) this.row(c);
      }
      this.stale.clear();
    });
  }

  private row(c: ContainerView): Buffer {
    const hit = this.rows.get(c.name);
    if (hit?.sample === c.sample && hit.status === c.status && hit.seen === c.last_seen_ms) return hit.buf;
    const buf = Buffer.from(JSON.stringify(containerJson(c, false)));
    this.rows.set(c.name, { sample: c.sample, status: c.status, seen: c.last_seen_ms, buf });
    return buf;
  }

  /** `[row,row,...]` as one buffer. */
  json(list: readonly ContainerView[]): Buffer {
    this.lastRead = performance.now();
    const parts: Buffer[] = [OPEN_BRACKET];
    for (const c of list) {
      if (parts.length > 1) parts.push(COMMA);
      parts.push(this.row(c));
    }
    parts.push(CLOSE_BRACKET);
    if (this.rows.size > list.length + 1000) {
      const live = new Set(list.map((c) => c.name));
      for (const k of this.rows.keys()) if (!live.has(k)) this.rows.delete(k);
    }
    return Buffer.concat(parts);
  }
}

const LIST_HEAD = Buffer.from('{"containers":');
const LIST_MID = Buffer.from(',"summary":');
const LIST_TAIL = Buffer.from('}');
const OPEN_BRACKET = Buffer.from('[');
const CLOSE_BRACKET = Buffer.from(']');
const COMMA = Buffer.from(',');

export function routes(d: ServerDeps, extra: { warnings: string[]; connections: ConnectionLimiter }): Route[] {
  const rowCache = new RowCache(d.fleet);
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
    route('/api/v1/containers', 'bearer', ({ res, url }) => {
      const q = query(url, containersQuery);
      const all = d.fleet.list();
      const shown = q.status === undefined ? all : all.filter((c) => c.status === q.status);
      const rows = q.include === 'sample' ? Buffer.from(JSON.stringify(shown.map((c) => containerJson(c, true)))) : rowCache.json(shown);
      sendRawJson(res, 200, Buffer.concat([LIST_HEAD, rows, LIST_MID, Buffer.from(JSON.stringify(fleetSummary(all))), LIST_TAIL]));
    }),
    route('/api/v1/containers/:name', 'bearer', ({ res, url, params }) => {
      query(url, noQuery);
      const name = params.name ?? '';
      const c = d.fleet.get(name);
      if (c === null) throw new HttpError(404, `no container named "${name}" is known (it never published, or was pruned)`);
      sendJson(res, 200, { ...containerJson(c, true), sample_age_seconds: c.sample === null ? null : Math.max(0, (Date.now() - Date.parse(c.sample.timestamp)) / 1000) });
    }),
    route('/api/v1/containers/:name/history', 'bearer', async ({ res, url, params }) => {
      const q = query(url, historyQuerySchema(Date.now()));
      const name = params.name ?? '';
      if (d.fleet.get(name) === null) throw new HttpError(404, `no container named "${name}" is known (it never published, or was pruned)`);
      const client = d.fleet.client;
      if (client === null || !d.fleet.valkeyUp) throw new HttpError(503, 'Valkey is not reachable; history cannot be read now');
      const r = await queryHistory(client, name, q);
      sendJson(res, 200, { container: name, since: new Date(q.since).toISOString(), until: new Date(q.until).toISOString(), fields: q.fields, ...r });
    }),
    route('/api/v1/alerts', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      if (d.alerts === undefined) throw new HttpError(503, 'alerting is not enabled in this aggregator');
      sendJson(res, 200, { alerts: d.alerts.active() });
    }),
    route('/api/v1/alerts/history', 'bearer', async ({ res, url }) => {
      const q = query(url, alertHistoryQuery);
      if (d.alerts === undefined) throw new HttpError(503, 'alerting is not enabled in this aggregator');
      if (!d.fleet.valkeyUp) throw new HttpError(503, 'Valkey is not reachable; alert history cannot be read now');
      sendJson(res, 200, await d.alerts.history(q.count));
    }),
    route('/api/v1/capacity', 'bearer', ({ res, url }) => {
      const q = query(url, capacityQuerySchema);
      const c = d.fleet.get(q.container);
      if (c === null) throw new HttpError(404, `no container named "${q.container}" is known (it never published, or was pruned)`);
      if (c.sample === null) throw new HttpError(503, `no readable sample for "${q.container}" yet`);
      sendJson(res, 200, checkCapacity(c.sample, q, { buffer: q.buffer ?? d.capacityBuffer ?? 0.2 }));
    }),
    route('/api/v1/gpus', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      const gpus = d.fleet
        .list()
        .filter((c) => c.sample !== null)
        .flatMap((c) => (c.sample?.gpus ?? []).map((g) => ({ container: c.name, container_status: c.status, ...g })));
      sendJson(res, 200, { gpus });
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
    route('/metrics', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      const st = d.fleet.stats;
      const sse = d.sse.stats;
      const text = renderMetrics(d.fleet.list(), {
        valkeyUp: d.fleet.valkeyUp,
        pollSeconds: st.last_poll_ms === null ? null : st.last_poll_ms / 1000,
        pollLoopSeconds: st.last_poll_loop_ms === null ? null : st.last_poll_loop_ms / 1000,
        pollIngestSeconds: st.last_poll_ingest_ms === null ? null : st.last_poll_ingest_ms / 1000,
        ingestRestartsTotal: st.ingest_restarts_total,
        pollsTotal: st.polls_total,
        pollErrorsTotal: st.poll_errors_total,
        invalidPayloadsTotal: st.invalid_payloads_total,
        rejectedByReason: st.rejected_by_reason,
        samplesReceivedTotal: st.samples_received_total,
        sseClients: sse.clients,
        sseDroppedTotal: sse.dropped_clients_total,
        sseEventsTotal: sse.events_total,
        loopLag: d.loopLag?.() ?? null,
      });
      res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    }),
    ...siriusRoutes({ fleet: d.fleet, version: d.version, intervalSeconds: d.intervalSeconds ?? 5 }),
    ...alertRoutes(d.alerts),
  ];
}

/** Plain node:http with a small route table; every error is JSON with a message. */
export function createHttpServer(d: ServerDeps): Server {
  const limits = d.limits ?? DEFAULT_HTTP_LIMITS;
  const connections = new ConnectionLimiter(limits);
  const warning = d.listenHost === undefined ? null : exposureWarning(d.listenHost, d.tokens !== null);
  if (warning !== null) d.log.warn({ host: d.listenHost }, warning);
  const table = routes(d, { warnings: warning === null ? [] : [warning], connections });
  const corsPolicy = new CorsPolicy(d.corsOrigins, d.log);
  const hosts = new HostPolicy(d.tokens !== null, d.allowedHosts ?? []);
  const server = createServer(serverOptions(limits), (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      d.log.error({ err }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const over = connections.refusal(req.socket);
    if (over !== null) {
      res.setHeader('Connection', 'close');
      if (over.status === 503) res.setHeader('Retry-After', '5');
      sendJson(res, over.status, { error: over.error });
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendJson(res, 400, { error: 'malformed request URL' });
      return;
    }
    if (!ANY_HOST_PATHS.has(url.pathname)) {
      const misdirected = hosts.refusal(req.headers.host);
      if (misdirected !== null) {
        sendJson(res, 421, { error: misdirected });
        return;
      }
    }
    const verdict = corsPolicy.apply(req, res);
    if (req.method === 'OPTIONS') {
      if (verdict === 'refused') {
        sendJson(res, 403, { error: `cross-origin requests from ${String(req.headers.origin).slice(0, 200)} are not allowed: add the origin to CORS_ORIGINS` });
        return;
      }
      res.writeHead(204, { Allow: 'GET, HEAD, POST, OPTIONS' });
      res.end();
      return;
    }
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    let matched: { r: Route; m: RegExpExecArray } | null = null;
    const allowed = new Set<string>();
    for (const r of table) {
      const m = r.pattern.exec(path);
      if (m === null) continue;
      allowed.add(r.method);
      if (r.method === method) {
        matched = { r, m };
        break;
      }
    }
    if (matched === null && allowed.size === 0 && d.dashboard && isDashboardPath(url.pathname) && (await d.dashboard.ready()).handle(req, res, url.pathname)) return;
    if (matched === null && allowed.size === 0) {
      sendJson(res, 404, { error: `no route ${path}` });
      return;
    }
    if (matched === null) {
      const allow = [...allowed].flatMap((x) => (x === 'GET' ? ['GET', 'HEAD'] : [x]));
      res.setHeader('Allow', [...allow, 'OPTIONS'].join(', '));
      sendJson(res, 405, { error: `${req.method ?? '?'} is not allowed on ${path} (allowed: ${allow.join(', ')})` });
      return;
    }
    const { r, m } = matched;
    let who: Principal | null = null;
    if (d.tokens !== null && r.auth !== 'open') {
      who = principalOf(d.tokens, req.headers.authorization, r.auth === 'query-token' ? url.searchParams.get('token') : null);
      if (who === null) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        sendJson(res, 401, { error: 'a valid bearer token is required (Authorization: Bearer <token>)' });
        return;
      }
    }
    if (r.auth === 'admin' && who?.role !== 'admin') {
      const why = d.tokens === null ? 'no tokens are configured: set AUTH_TOKENS_FILE with a token whose role is "admin"' : 'this token\'s role is viewer; use a token whose role is "admin"';
      sendJson(res, 403, { error: `this action needs an admin token (${why})` });
      return;
    }
    const params: Record<string, string> = {};
    for (const [i, k] of r.keys.entries()) {
      try {
        params[k] = decodeURIComponent(m[i + 1] ?? '');
      } catch {
        sendJson(res, 400, { error: 'malformed percent-encoding in the path' });
        return;
      }
    }
    try {
      await r.handler({ req, res, url, params, who });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      // An unread request body (413) must not be read on for the next request on this connection.
      if (err.status === 413) res.setHeader('Connection', 'close');
      sendJson(res, err.status, { error: err.message });
    }
  }

  // Oversized headers, slow headers and garbage are answered with JSON too, not a bare close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const [status, reason, error] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'request headers too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', `the request did not arrive within ${limits.headersTimeoutMs / 1000} s (headers) or ${limits.requestTimeoutMs / 1000} s (whole request)`]
          : [400, 'Bad Request', 'malformed request'];
    const body = JSON.stringify({ error });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  connections.attach(server);
  return server;
}
