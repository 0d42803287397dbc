import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { siriusHealthSchema } from '../../shared/src/sirius.js';
import { makePayload } from '../test/helpers/payload.js';
import { viewOf } from '../test/helpers/view.js';
import type { ContainerView } from './fleet/fleet.js';
import { siriusHealth } from './sirius-health.js';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const ctx = { nowMs: NOW, defaultIntervalS: 5, version: '1.2.3', viewProblem: null };
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const view = (name: string, status: ContainerView['status'], sampleAgoMs: number | null, lastSeenAgoMs = 1000, exitedAgoMs: number | null = null): ContainerView => viewOf({
  name,
  status,
  last_seen_ms: NOW - lastSeenAgoMs,
  sample: sampleAgoMs === null ? null : makePayload({ name, timestamp: at(sampleAgoMs), interval_seconds: 5 }),
  exited_at_ms: exitedAgoMs === null ? null : NOW - exitedAgoMs,
});

/** What SiriusScan's UI computes from the answer (its healthCheckService.getServiceCounts and getOverallStatus). */
function uiView(body: unknown) {
  const h = siriusHealthSchema.parse(body);
  const counts = { up: 0, down: 0 };
  for (const s of Object.values(h.services)) counts[s.status] += 1;
  return { counts, total: Object.keys(h.services).length, overall: h.overall === 'healthy' ? 'up' : 'down' };
}

describe('SiriusScan health', () => {
  it('all fresh: healthy, HTTP 200, one up service per container, in the shape the UI parses', () => {
    const r = siriusHealth([view('sirius-api', 'ok', 2000), view('sirius-ui', 'ok', 1000)], ctx);
    assert.equal(r.httpStatus, 200);
    assert.deepEqual(uiView(r.body), { counts: { up: 2, down: 0 }, total: 2, overall: 'up' });
    assert.equal(r.body.status, 'healthy');
    assert.equal(r.body.timestamp, new Date(NOW).toISOString());
    assert.equal(r.body.version, '1.2.3');
    assert.equal(r.body.services['sirius-api']?.timestamp, at(2000), 'the time of the evidence: the latest sample');
    assert.match(r.body.services['sirius-api']?.message ?? '', /^sampled 2 s ago \(every 5 s\)$/);
    assert.equal('port' in (r.body.services['sirius-api'] ?? {}), false, 'no port is made up');
  });

  it('any container not up: degraded, HTTP 503, and each down service says why', () => {
    const r = siriusHealth([view('a', 'ok', 1000), view('b', 'stale', 30_000), view('c', 'exited', 40_000, 39_990, 40_000), view('d', 'offline', null, 90_000), view('e', 'offline', null, NOW), view('f', 'exited', null, 119_990, 120_000)], ctx);
    assert.equal(r.httpStatus, 503);
    assert.deepEqual(uiView(r.body), { counts: { up: 1, down: 5 }, total: 6, overall: 'down' });
    const msg = (n: string) => r.body.services[n]?.message ?? '';
    assert.equal(msg('b'), `stale since ${at(30_000)}: no sample for 30 s (expected every 5 s)`);
    assert.match(msg('c'), new RegExp(`^exited at ${at(40_000)}`));
    assert.match(msg('d'), new RegExp(`^offline: no valid sample since ${at(90_000)}`));
    assert.equal(msg('e'), 'offline: registered but never published a valid sample');
    assert.match(msg('f'), new RegExp(`^exited at ${at(120_000)}`), 'after the key expired: the time of the final sample, not of the registry write');
  });

  it('a view that cannot be trusted is degraded with the reason; an empty fleet is healthy with no services', () => {
    const r = siriusHealth([view('a', 'ok', 1000)], { ...ctx, viewProblem: 'Valkey is not reachable' });
    assert.equal(r.httpStatus, 503);
    assert.equal(r.body.overall, 'degraded');
    assert.equal(r.body.error, 'Valkey is not reachable');
    const empty = siriusHealth([], ctx);
    assert.equal(empty.httpStatus, 200);
    assert.deepEqual(uiView(empty.body), { counts: { up: 0, down: 0 }, total: 0, overall: 'up' });
    assert.equal('error' in empty.body, false);
  });

  it('container names are data, not object keys with meaning: __proto__ and constructor are ordinary services', () => {
    const r = siriusHealth([view('__proto__', 'stale', 60_000), view('constructor', 'ok', 1000)], ctx);
    const parsed = JSON.parse(JSON.stringify(r.body)) as { services: Record<string, { status: string }> };
    assert.deepEqual(Object.keys(parsed.services).sort(), ['__proto__', 'constructor']);
    const proto = Object.getOwnPropertyDescriptor(parsed.services, '__proto__')?.value as { status: string } | undefined;
    assert.equal(proto?.status, 'down');
    assert.equal(r.httpStatus, 503);
  });
});
