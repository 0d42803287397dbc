import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AlertService } from '../alerts/service.js';
import type { Fleet } from '../fleet/fleet.js';
import { HistoryRejects } from '../history/rejects.js';
import type { LoopLag } from '../loop-lag.js';
import { principalOf, type Principal, type TokenTable } from './auth.js';
import { CorsPolicy } from './cors.js';
import { exposureWarning, HostPolicy } from './exposure.js';
import { ConnectionLimiter, DEFAULT_HTTP_LIMITS, serverOptions, type HttpLimits } from './limits.js';
import { HttpError, sendJson, type Route } from './router.js';
import { alertListRoutes, alertRoutes } from './alert-routes.js';
import { fleetRoutes } from './fleet-routes.js';
import { opsRoutes } from './ops-routes.js';
import { siriusRoutes } from './sirius-routes.js';
import { isDashboardPath, type Dashboard } from './static.js';
import type { SseHub } from './sse.js';

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
  /** Counts of refused history entries (shared with the rollup writer), for the history route and /metrics. */
  historyRejects?: HistoryRejects;
}

/** Routes every Host may reach: probes from orchestrators use the pod's address, and these carry no fleet data. */
const ANY_HOST_PATHS = new Set(['/healthz', '/readyz']);

export function routes(d: ServerDeps, extra: { warnings: string[]; connections: ConnectionLimiter }): Route[] {
  const historyRejects = d.historyRejects ?? new HistoryRejects(d.log);
  return [
    ...opsRoutes({ ...d, historyRejects }, extra),
    ...fleetRoutes({ fleet: d.fleet, capacityBuffer: d.capacityBuffer ?? 0.2, historyRejects }),
    ...alertListRoutes(d.alerts, () => d.fleet.valkeyUp),
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
