import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { CorsPolicy } from './cors.js';

/** A real HTTP server whose only job is to apply one CorsPolicy and report its verdict. */
async function serve(origins: string[]): Promise<{ server: Server; base: string; lines: { msg: string; origin?: string }[] }> {
  const lines: { msg: string; origin?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as { msg: string; origin?: string });
      cb();
    },
  });
  const policy = new CorsPolicy(origins, pino({ level: 'info' }, sink));
  const server = createServer((req, res) => {
    const verdict = policy.apply(req, res);
    res.writeHead(200, { 'X-Verdict': verdict });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines };
}

describe('CorsPolicy', () => {
  let off: Awaited<ReturnType<typeof serve>>;
  let listed: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    off = await serve([]);
    listed = await serve(['http://localhost:3000']);
  });
  after(() => {
    off.server.close();
    listed.server.close();
  });

  it('a listed origin gets the headers a browser needs for the UI\'s requests, Content-Type and POST among them', async () => {
    const r = await fetch(listed.base, { headers: { Origin: 'http://localhost:3000' } });
    assert.equal(r.headers.get('x-verdict'), 'allowed');
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const allowHeaders = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const h of ['content-type', 'authorization', 'last-event-id']) assert.ok(allowHeaders.includes(h), `allows ${h}`);
    assert.ok((r.headers.get('access-control-allow-methods') ?? '').split(/,\s*/).includes('POST'));
    assert.equal(r.headers.get('vary'), 'Origin');
  });

  it('no Origin, or the page\'s own origin: nothing to decide, nothing logged', async () => {
    assert.equal((await fetch(off.base)).headers.get('x-verdict'), 'no-origin');
    const own = await fetch(off.base, { headers: { Origin: off.base } });
    assert.equal(own.headers.get('x-verdict'), 'same-origin');
    assert.equal(own.headers.get('access-control-allow-origin'), null);
    assert.equal(off.lines.length, 0);
  });

  it('a refused origin gets no CORS headers and is logged once, naming the setting that would allow it', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(off.base, { headers: { Origin: 'http://localhost:3000' } });
      assert.equal(r.headers.get('x-verdict'), 'refused');
      assert.equal(r.headers.get('access-control-allow-origin'), null);
    }
    const said = off.lines.filter((l) => l.origin === 'http://localhost:3000');
    assert.equal(said.length, 1, 'logged once however often it comes');
    assert.match(said[0]?.msg ?? '', /CORS_ORIGINS=http:\/\/localhost:3000/);
    await fetch(listed.base, { headers: { Origin: 'http://evil.example' } });
    assert.match(listed.lines.at(-1)?.msg ?? '', /not in CORS_ORIGINS \(http:\/\/localhost:3000\)/);
  });

  it('many distinct refused origins: the log-once memory is bounded and says when it stops logging each', async () => {
    const s = await serve([]);
    try {
      for (let i = 0; i < 130; i++) await fetch(s.base, { headers: { Origin: `http://o${i}.example` } });
      const perOrigin = s.lines.filter((l) => l.origin !== undefined);
      assert.equal(perOrigin.length, 100);
      assert.equal(s.lines.filter((l) => /more origins/.test(l.msg)).length, 1);
    } finally {
      s.server.close();
    }
  });
});
