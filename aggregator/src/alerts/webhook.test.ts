import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { deliver, idempotencyKey, parseRetryAfter, alertmanagerPayload, ZERO_TIME } from './webhook.js';
import { Receiver } from '../../test/helpers/receiver.js';
import { freePort } from '../../../agent/test/helpers/redis-server.js';

const alert = {
  status: 'firing' as const, labels: { alertname: 'memory_high', container: 'web-1', severity: 'critical' },
  annotations: { summary: 'x' }, startsAt: '2026-01-01T00:00:00.000Z', endsAt: ZERO_TIME, generatorURL: 'http://agg/alerts', fingerprint: 'abc',
};
const body = alertmanagerPayload(alert, 'default', 'http://agg');
const fast = { baseDelayMs: 20, maxDelayMs: 2000, timeoutMs: 1000 };

describe('deliver', () => {
  let rx: Receiver | null = null;
  afterEach(async () => {
    await rx?.stop();
    rx = null;
  });

  it('retries 503 twice then succeeds, with the same idempotency key on every attempt', async () => {
    rx = new Receiver((n) => (n < 2 ? 503 : 200));
    await rx.start();
    const key = idempotencyKey('abc', 'firing', alert.startsAt);
    const r = await deliver(rx.url, body, key, fast);
    assert.deepEqual({ ok: r.ok, attempts: r.attempts, status: r.status }, { ok: true, attempts: 3, status: 200 });
    assert.equal(rx.requests.length, 3);
    assert.deepEqual(rx.requests.map((q) => q.headers['idempotency-key']), [key, key, key]);
    const got = rx.requests[2]?.body as typeof body;
    assert.equal(got.version, '4');
    assert.equal(got.status, 'firing');
    assert.equal(got.alerts[0]?.fingerprint, 'abc');
    assert.equal(got.alerts[0]?.endsAt, ZERO_TIME);
    assert.equal(rx.requests[0]?.headers['content-type'], 'application/json');
  });

  it('does not retry other 4xx', async () => {
    rx = new Receiver(() => 400);
    await rx.start();
    const r = await deliver(rx.url, body, 'k', fast);
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.match(r.error ?? '', /HTTP 400 .*not retried/);
    assert.equal(rx.requests.length, 1);
  });

  it('honours Retry-After on 429', async () => {
    rx = new Receiver((n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : 204));
    await rx.start();
    const r = await deliver(rx.url, body, 'k', fast);
    assert.equal(r.ok, true);
    const [a, b] = rx.requests;
    assert.ok(a !== undefined && b !== undefined);
    assert.ok(b.at - a.at >= 950, `second attempt ${b.at - a.at} ms after the first, expected ≥ 1000 ms`);
  });

  it('retries network errors and gives up after the attempt limit with the cause', async () => {
    const port = await freePort();
    const r = await deliver(`http://127.0.0.1:${port}/hook`, body, 'k', { ...fast, attempts: 3 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 3);
    assert.match(r.error ?? '', /ECONNREFUSED.*gave up after 3 attempts/);
  });

  it('each attempt has its own timeout', async () => {
    rx = new Receiver((n) => (n === 0 ? 'hang' : 200));
    await rx.start();
    const t0 = Date.now();
    const r = await deliver(rx.url, body, 'k', { ...fast, timeoutMs: 300 });
    assert.equal(r.ok, true);
    assert.equal(r.attempts, 2);
    assert.ok(Date.now() - t0 >= 290);
  });

  it('stops when told (lost leadership)', async () => {
    rx = new Receiver(() => 503);
    await rx.start();
    let allowed = 2;
    const r = await deliver(rx.url, body, 'k', { ...fast, shouldContinue: () => allowed-- > 0 });
    assert.equal(r.ok, false);
    assert.equal(rx.requests.length, 2);
  });
});

describe('parseRetryAfter / idempotencyKey', () => {
  it('reads seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000 + 5000).toUTCString(), 10_000), 5000);
    assert.equal(parseRetryAfter('soon'), null);
    assert.equal(parseRetryAfter(null), null);
  });
  it('differs by status and startsAt', () => {
    const a = idempotencyKey('f', 'firing', 's1');
    assert.equal(a, idempotencyKey('f', 'firing', 's1'));
    assert.notEqual(a, idempotencyKey('f', 'resolved', 's1'));
    assert.notEqual(a, idempotencyKey('f', 'firing', 's2'));
  });
});
