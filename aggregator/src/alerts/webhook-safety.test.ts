import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliver, alertmanagerPayload, ZERO_TIME } from './webhook.js';
import { redactUrl, webhookTarget, WebhookUrlError } from './webhook-url.js';
import { rulesFileSchema } from './rule-schema.js';
import { Receiver } from '../../test/helpers/receiver.js';
import { freePort } from '../../../agent/test/helpers/redis-server.js';

const alert = {
  status: 'firing' as const, labels: { alertname: 'memory_high', container: 'web-1', severity: 'critical' },
  annotations: { summary: 'x' }, startsAt: '2026-01-01T00:00:00.000Z', endsAt: ZERO_TIME, generatorURL: 'http://agg/alerts', fingerprint: 'abc',
};
const body = alertmanagerPayload(alert, 'default', 'http://agg');
const fast = { baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 1000, attempts: 3 };
/** Secrets placed in every part of a URL; none may appear in an error message. */
const SECRETS = ['alice', 'hunter2', 'SECRETPATH', 'TOKVALUE'];
const secretUrl = (port: number): string => `http://alice:hunter2@127.0.0.1:${port}/hooks/SECRETPATH?token=TOKVALUE`;

function assertNoSecret(text: string | null): void {
  for (const s of SECRETS) assert.ok(!(text ?? '').includes(s), `"${s}" leaked into: ${text ?? ''}`);
}

describe('webhook URLs are redacted', () => {
  it('keeps scheme, host and port, and fingerprints the rest', () => {
    const r = redactUrl('https://u:p@hooks.example.com:8443/T0/B0/XXXX?token=abc');
    assert.match(r, /^https:\/\/…@hooks\.example\.com:8443\/…#[0-9a-f]{8}$/);
    assert.equal(redactUrl('http://example.com/'), 'http://example.com');
    assert.notEqual(redactUrl('http://h/a?token=1'), redactUrl('http://h/a?token=2'), 'two secrets on one host stay apart');
    assert.equal(redactUrl('http://h/a?token=1'), redactUrl('http://h/a?token=1'));
  });

  it('a failing receiver (5xx, retried) is reported without user, password, path or query', async () => {
    const rx = new Receiver(() => 503);
    await rx.start();
    try {
      const r = await deliver(secretUrl(rx.port), body, 'k', fast);
      assert.equal(r.ok, false);
      assert.equal(r.attempts, 3, '5xx is retried');
      assert.equal(r.permanent, false);
      assert.equal(rx.requests.length, 3);
      assert.ok(r.error?.includes(`http://…@127.0.0.1:${rx.port}/…#`), r.error ?? '');
      assertNoSecret(r.error);
    } finally {
      await rx.stop();
    }
  });

  it('a refused connection is reported without secrets', async () => {
    const port = await freePort();
    const r = await deliver(secretUrl(port), body, 'k', { ...fast, attempts: 2 });
    assert.equal(r.attempts, 2, 'connection errors are retried');
    assert.match(r.error ?? '', /ECONNREFUSED/);
    assertNoSecret(r.error);
  });

  it('an unparseable URL is given up at once, without echoing it', async () => {
    const r = await deliver('http://alice:hunter2@exa mple/SECRETPATH?token=TOKVALUE', body, 'k', fast);
    assert.deepEqual({ ok: r.ok, attempts: r.attempts, permanent: r.permanent }, { ok: false, attempts: 0, permanent: true });
    assertNoSecret(r.error);
  });
});

describe('webhook userinfo becomes Authorization: Basic', () => {
  it('the receiver gets the header and a URL without credentials', async () => {
    const rx = new Receiver(() => 200);
    await rx.start();
    try {
      const r = await deliver(`http://alice:p%40ss%3Aword@127.0.0.1:${rx.port}/hook`, body, 'k', fast);
      assert.equal(r.ok, true, r.error ?? '');
      // base64("alice:p@ss:word"), worked out independently.
      assert.equal(rx.requests[0]?.headers.authorization, 'Basic YWxpY2U6cEBzczp3b3Jk');
    } finally {
      await rx.stop();
    }
  });

  it('the rules schema accepts userinfo and rejects broken percent-encoding with a message that hides it', () => {
    const ok = rulesFileSchema.safeParse({ notify: { webhooks: ['https://alice:hunter2@hooks.example.com/x'] }, rules: [] });
    assert.equal(ok.success, true);
    const bad = rulesFileSchema.safeParse({ notify: { webhooks: ['https://alice:hunter2%ZZ@hooks.example.com/SECRETPATH'] }, rules: [] });
    assert.equal(bad.success, false);
    const msg = bad.error?.issues.map((i) => i.message).join('; ') ?? '';
    assert.match(msg, /percent-encoding/);
    assertNoSecret(msg);
    assert.throws(() => webhookTarget('ftp://h/x'), WebhookUrlError);
  });
});

describe('webhook errors that cannot succeed are not retried', () => {
  let rx: Receiver | null = null;
  let second: Receiver | null = null;
  afterEach(async () => {
    await rx?.stop();
    await second?.stop();
    rx = null;
    second = null;
  });

  it('a 307 to a second receiver is not followed: it receives nothing, and the first is asked once', async () => {
    second = new Receiver(() => 200);
    await second.start();
    const target = `http://127.0.0.1:${second.port}/internal/SECRETPATH?token=TOKVALUE`;
    rx = new Receiver(() => ({ status: 307, headers: { location: target } }));
    await rx.start();
    const r = await deliver(rx.url, body, 'k', fast);
    assert.deepEqual({ ok: r.ok, attempts: r.attempts, status: r.status, permanent: r.permanent }, { ok: false, attempts: 1, status: 307, permanent: true });
    assert.equal(rx.requests.length, 1);
    assert.equal(second.requests.length, 0, 'the redirect target received nothing');
    assert.ok(r.error?.includes(`redirect to http://127.0.0.1:${second.port} not followed`), r.error ?? '');
    assertNoSecret(r.error);
  });

  for (const status of [400, 401, 403, 404, 410, 413, 422]) {
    it(`HTTP ${status} is tried once`, async () => {
      rx = new Receiver(() => status);
      await rx.start();
      const r = await deliver(rx.url, body, 'k', fast);
      assert.deepEqual({ attempts: r.attempts, permanent: r.permanent }, { attempts: 1, permanent: true });
      assert.equal(rx.requests.length, 1);
    });
  }

  for (const status of [408, 429, 500, 502]) {
    it(`HTTP ${status} is retried with backoff`, async () => {
      rx = new Receiver((n) => (n === 0 ? status : 204));
      await rx.start();
      const r = await deliver(rx.url, body, 'k', fast);
      assert.deepEqual({ ok: r.ok, attempts: r.attempts }, { ok: true, attempts: 2 });
    });
  }
});

describe('a TLS certificate the aggregator does not trust', () => {
  let dir = '';
  let server: Server | null = null;
  let hits = 0;
  let port = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'webhook-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const s = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
      hits++;
      res.writeHead(200).end();
    });
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const addr = s.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  });
  after(async () => {
    const s = server;
    if (s !== null) await new Promise<void>((resolve) => s.close(() => { resolve(); }));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is given up after one attempt with advice', async () => {
    const r = await deliver(`https://127.0.0.1:${port}/hooks/SECRETPATH?token=TOKVALUE`, body, 'k', fast);
    assert.deepEqual({ ok: r.ok, attempts: r.attempts, permanent: r.permanent }, { ok: false, attempts: 1, permanent: true });
    assert.match(r.error ?? '', /TLS certificate/);
    assert.equal(hits, 0);
    assertNoSecret(r.error);
  });
});
