import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { WebFile } from './web-build.js';

/** Scripts and styles only from this origin, no inline code, API calls only to this origin. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  cacheControl: string;
}

function typeOf(path: string): string | null {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? null : (TYPES[path.slice(dot)] ?? null);
}

/** `app-3F2A9C1B.js`: esbuild's content hash in the name, so the file never changes under that name. */
const HASHED = /-[A-Z0-9]{8}\.(js|css)$/;

/**
 * The dashboard's files, held in memory and answered with an ETag, a
 * Cache-Control (hashed assets immutable, index.html revalidated every
 * time), a Content-Security-Policy and nosniff. Only the exact paths in the
 * table are served, so `..` or encoded traversal can never reach the disk.
 */
export class StaticAssets {
  private readonly table = new Map<string, Asset>();

  constructor(
    files: WebFile[],
    /** Where the files came from (logged). */
    readonly source: string,
  ) {
    for (const f of files) {
      const type = typeOf(f.path);
      if (type === null) continue;
      const gz = gzipSync(f.body, { level: 9 });
      this.table.set(f.path, {
        body: f.body,
        gzip: gz.length < f.body.length * 0.9 ? gz : null,
        type,
        etag: `"${createHash('sha256').update(f.body).digest('base64url').slice(0, 22)}"`,
        cacheControl: HASHED.test(f.path) ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
    if (!this.table.has('/index.html')) throw new Error(`dashboard assets from ${source} have no index.html`);
  }

  get paths(): string[] {
    return [...this.table.keys()].sort();
  }

  /**
   * Answers `req` when `pathname` is a dashboard file (`/` is index.html);
   * returns false for any other path so the caller answers 404.
   */
  handle(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    const raw = req.url ?? '/';
    // The URL parser already folded `..` and `%2e%2e`; a raw one left in the request is refused outright.
    if (/\.\.|%2e|%2f|%5c|\\/i.test(raw.split('?')[0] ?? '')) return false;
    const asset = this.table.get(pathname === '/' ? '/index.html' : pathname);
    if (asset === undefined) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: `${req.method ?? '?'} is not allowed on ${pathname}` }));
      return true;
    }
    const headers: Record<string, string | number> = {
      'Content-Type': asset.type,
      ETag: asset.etag,
      'Cache-Control': asset.cacheControl,
      'Content-Security-Policy': DASHBOARD_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      Vary: 'Accept-Encoding',
    };
    const inm = req.headers['if-none-match'];
    if (typeof inm === 'string' && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === asset.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const ae = req.headers['accept-encoding'];
    const gz = asset.gzip !== null && typeof ae === 'string' && /\bgzip\b/.test(ae) ? asset.gzip : null;
    const body = gz ?? asset.body;
    if (gz !== null) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}

/** Paths the dashboard may own; anything else goes straight to the API's 404. */
export function isDashboardPath(pathname: string): boolean {
  return pathname === '/' || pathname === '/index.html' || pathname.startsWith('/assets/');
}

/** Every regular file under `dir`, as URL paths. */
export function readWebDir(dir: string): WebFile[] {
  const out: WebFile[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push({ path: `/${relative(dir, full).split(sep).join('/')}`, body: readFileSync(full) });
    }
  };
  walk(dir);
  return out;
}

export interface DashboardLocation {
  /** Built assets (dist/web beside the bundled aggregator). */
  builtDir: string;
  /** Dashboard sources (web/ in a checkout). */
  sourceDir: string;
}

/** In the bundle this file is dist/aggregator.cjs (assets in dist/web); from source it is aggregator/src/http/static.ts. */
export function defaultDashboardLocation(): DashboardLocation {
  const here = dirname(fileURLToPath(import.meta.url));
  return { builtDir: join(here, 'web'), sourceDir: join(here, '../../../web') };
}

/**
 * The dashboard, or null when this install has none. Built assets are read
 * once at start. From a checkout without a build the sources are bundled
 * with esbuild on the first request for a dashboard path (and kept), so
 * API-only runs and tests pay nothing for it.
 */
export class Dashboard {
  private assets: StaticAssets | null = null;
  private building: Promise<StaticAssets> | null = null;

  private constructor(
    private readonly loc: DashboardLocation,
    private readonly log: Logger,
  ) {}

  static open(loc: DashboardLocation, log: Logger): Dashboard | null {
    const d = new Dashboard(loc, log);
    if (existsSync(join(loc.builtDir, 'index.html'))) {
      d.assets = new StaticAssets(readWebDir(loc.builtDir), loc.builtDir);
      log.info({ from: loc.builtDir, files: d.assets.paths.length }, 'dashboard assets loaded');
      return d;
    }
    if (existsSync(join(loc.sourceDir, 'src/main.ts'))) return d;
    log.warn({ looked_in: [loc.builtDir, loc.sourceDir] }, 'no dashboard assets (run npm run build); / answers 404');
    return null;
  }

  /** The assets, building them from source the first time when there is no build. */
  async ready(): Promise<StaticAssets> {
    if (this.assets !== null) return this.assets;
    this.building ??= (async () => {
      const t0 = performance.now();
      const { buildWebAssets } = await import('./web-build.js');
      const a = new StaticAssets(await buildWebAssets(this.loc.sourceDir), this.loc.sourceDir);
      this.log.info({ from: this.loc.sourceDir, ms: Math.round(performance.now() - t0) }, 'dashboard built from source');
      this.assets = a;
      return a;
    })();
    // A failed build (a syntax error while editing web/src) is retried on the next request.
    this.building.catch(() => {
      this.building = null;
    });
    return this.building;
  }
}
