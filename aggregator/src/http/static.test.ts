import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { REPO } from '../../../agent/test/helpers/agent-process.js';
import { Dashboard, DASHBOARD_CSP, isDashboardPath, StaticAssets } from './static.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: the path is sent exactly as given (no client-side normalising of `..`). */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const JS = Buffer.from(`globalThis.payload = ${JSON.stringify('x'.repeat(2000))};`);
const HTML = Buffer.from('<!doctype html><title>t</title><script defer src="/assets/app-ABCDEFGH.js"></script>');

describe('dashboard static files', () => {
  let server: Server;
  let port: number;
  const assets = new StaticAssets(
    [
      { path: '/index.html', body: HTML },
      { path: '/assets/app-ABCDEFGH.js', body: JS },
      { path: '/assets/notes.txt', body: Buffer.from('unknown type: not served') },
    ],
    'test',
  );

  before(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (!assets.handle(req, res, path)) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `no route ${path}` }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    port = typeof a === 'object' && a !== null ? a.port : 0;
  });
  after(() => {
    server.close();
  });

  it('/ is index.html, revalidated every time, with CSP and nosniff', async () => {
    const r = await raw(port, 'GET', '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['content-security-policy'], DASHBOARD_CSP);
    assert.match(DASHBOARD_CSP, /default-src 'self'/);
    assert.match(DASHBOARD_CSP, /script-src 'self';/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval/);
    assert.match(DASHBOARD_CSP, /connect-src 'self'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(r.body, HTML);
    assert.deepEqual((await raw(port, 'GET', '/index.html')).body, HTML);
  });

  it('hashed assets are immutable; ETag answers 304; gzip when asked; HEAD has no body', async () => {
    const r = await raw(port, 'GET', '/assets/app-ABCDEFGH.js');
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    const etag = String(r.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]{22}"$/);
    const again = await raw(port, 'GET', '/assets/app-ABCDEFGH.js', { 'If-None-Match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const gz = await raw(port, 'GET', '/assets/app-ABCDEFGH.js', { 'Accept-Encoding': 'gzip, br' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(gz.body.length < JS.length / 5);
    assert.deepEqual(gunzipSync(gz.body), JS);
    const head = await raw(port, 'HEAD', '/assets/app-ABCDEFGH.js');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), JS.length);
    assert.equal(head.body.length, 0);
  });

  it('only GET and HEAD', async () => {
    const r = await raw(port, 'POST', '/');
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, HEAD');
  });

  it('traversal (plain, encoded, double-encoded, backslash) and unknown paths are 404', async () => {
    for (const p of ['/../package.json', '/assets/../../../etc/passwd', '/%2e%2e/package.json', '/assets/%2e%2e%2fpackage.json', '/assets/..%2f..%2fetc%2fpasswd', '/assets/%252e%252e/x', '/assets\\..\\package.json', '/assets/app-ABCDEFGH.js/..', '/assets/', '/assets/notes.txt', '/assets/app-ABCDEFGH.js.map', '/favicon.ico', '/%2e%2e%2f']) {
      const r = await raw(port, 'GET', p);
      assert.equal(r.status, 404, `${p} → ${r.status}`);
      assert.match(String(r.headers["content-type"]), /json/, p);
    }
  });

  it('isDashboardPath: the API keeps its own 404s', () => {
    assert.ok(isDashboardPath('/'));
    assert.ok(isDashboardPath('/assets/x.js'));
    assert.ok(!isDashboardPath('/api/v1/nope'));
    assert.ok(!isDashboardPath('/metrics'));
  });
});

describe('dashboard location', () => {
  const log = pino({ level: 'silent' });

  it('prefers built assets beside the bundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dash-built-'));
    mkdirSync(join(dir, 'web/assets'), { recursive: true });
    writeFileSync(join(dir, 'web/index.html'), 'built');
    writeFileSync(join(dir, 'web/assets/app-ZZZZZZZZ.js'), '1');
    const d = Dashboard.open({ builtDir: join(dir, 'web'), sourceDir: join(dir, 'nowhere') }, log);
    assert.ok(d !== null);
    const a = await d.ready();
    assert.deepEqual(a.paths, ['/assets/app-ZZZZZZZZ.js', '/index.html']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('from a checkout builds web/ with esbuild; index.html names hashed files that exist', async () => {
    const d = Dashboard.open({ builtDir: join(REPO, 'no-such-dist/web'), sourceDir: join(REPO, 'web') }, log);
    assert.ok(d !== null);
    const a = await d.ready();
    const js = a.paths.find((p) => /^\/assets\/app-[A-Z0-9]{8}\.js$/.test(p));
    const css = a.paths.find((p) => /^\/assets\/style-[A-Z0-9]{8}\.css$/.test(p));
    assert.ok(js !== undefined && css !== undefined, a.paths.join(' '));
    assert.equal(await d.ready(), a, 'built once');
  });

  it('no build and no sources: no dashboard', () => {
    assert.equal(Dashboard.open({ builtDir: '/nonexistent/web', sourceDir: '/nonexistent/src' }, log), null);
  });
});
