import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO } from '../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';

/**
 * dist/aggregator.cjs and dist/web exactly as Dockerfile.aggregator ships them
 * (`/app/dist`, no node_modules, `node dist/aggregator.cjs`): the bundle
 * starts, finds its dashboard assets beside it and serves them.
 */
describe('the aggregator bundle as the image runs it', () => {
  let dir: string;
  let server: RedisServer;
  let proc: ChildProcess;
  let base: string;
  let stderr = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agg-image-'));
    // The build's own output folder, as the image's `COPY /src/dist/ ./dist/` lays it out.
    const built = spawnSync(process.execPath, ['scripts/build.mjs', '--no-sea', '--out', join(dir, 'dist')], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}${built.stderr}`);
    rmSync(join(dir, 'dist/agent.cjs'));
    server = new RedisServer(await freePort());
    await server.start();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    proc = spawn(process.execPath, ['dist/aggregator.cjs'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    for (let i = 0; i < 100; i++) {
      if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) return;
      await sleep(100);
    }
    throw new Error(`the bundle did not answer /healthz in 10 s; it said:\n${stderr}`);
  });

  after(async () => {
    proc.kill('SIGTERM');
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the built assets and serves the page, its hashed files immutable, with a CSP', async () => {
    assert.match(stderr, /dashboard assets loaded/);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await page.text();
    const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] ?? '');
    assert.ok(refs.some((r) => r.endsWith('.js')) && refs.some((r) => r.endsWith('.css')), `the page references its script and style: ${refs.join(', ')}`);
    for (const ref of refs) {
      const r = await fetch(`${base}${ref}`);
      assert.equal(r.status, 200, ref);
      assert.match(r.headers.get('cache-control') ?? '', /immutable/, ref);
      assert.ok((await r.arrayBuffer()).byteLength > 100, `${ref} has content`);
    }
  });

  it('answers 404 JSON for traversal and unknown assets, and the API still works', async () => {
    for (const path of ['/assets/..%2F..%2Fpackage.json', '/assets/nope.js', '/../aggregator.cjs']) {
      const r = await fetch(`${base}${path}`);
      assert.equal(r.status, 404, path);
      assert.ok(typeof ((await r.json()) as { error?: unknown }).error === 'string', path);
    }
    const list = await fetch(`${base}/api/v1/containers`);
    assert.equal(list.status, 200);
  });
});
