import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makePayload } from '../../aggregator/test/helpers/payload.js';
import { filterRows, fleetRow, fleetSummary, sortRows } from './fleet-model.js';
import { parseRoute } from './router.js';
import { historyPath, rangeById } from './ranges.js';
import { SeriesBuffer } from './series.js';
import { FleetStore, SPARK_POINTS } from './store.js';
import { TokenStore, tokenFromUrl } from './auth.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

describe('series buffer', () => {
  it('keeps at most capacity (+ a trim batch) points, in order, and ignores replays', () => {
    const b = new SeriesBuffer(1, 8);
    for (let i = 1; i <= 100; i++) b.push(i, [i * 10]);
    assert.ok(b.length <= 10 && b.length >= 8, `length ${b.length}`);
    assert.equal(b.lastTime, 100);
    assert.equal(b.columns[1]?.at(-1), 1000);
    assert.equal(b.push(50, [1]), false, 'an older time is ignored');
    b.push(101, [NaN]);
    assert.equal(b.columns[1]?.at(-1), null, 'a non-finite value is a gap');
  });
  it('replace keeps the newest points and the same arrays; dropBefore trims by time', () => {
    const b = new SeriesBuffer(2, 3);
    const cols = b.columns;
    b.replace([1, 2, 3, 4], [[10, 20, 30, 40], [null, 2, 3, 4]]);
    assert.equal(b.columns, cols);
    assert.deepEqual(b.columns, [[2, 3, 4], [20, 30, 40], [2, 3, 4]]);
    b.dropBefore(4);
    assert.deepEqual(b.columns, [[4], [40], [4]]);
  });
});

describe('fleet store and rows', () => {
  it('a sample makes a container ok with a sparkline point; an older sample is ignored', () => {
    const s = new FleetStore();
    const seen: (ReadonlySet<string> | null)[] = [];
    s.subscribe((n) => seen.push(n));
    s.applySample(makePayload({ name: 'a', timestamp: at(10), cpu_percent: 20 }));
    s.applySample(makePayload({ name: 'a', timestamp: at(5), cpu_percent: 99 }));
    const a = s.containers.get('a');
    assert.equal(a?.status, 'ok');
    assert.equal(a?.sample?.cpu_percent, 20);
    assert.deepEqual(a?.spark.columns[1], [20]);
    assert.equal(seen.length, 1);
    s.applyStatus('a', 'stale');
    assert.equal(s.containers.get('a')?.status, 'stale');
  });
  it('the sparkline is bounded', () => {
    const s = new FleetStore();
    for (let i = 0; i < 500; i++) s.applySample(makePayload({ name: 'a', timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() }));
    assert.ok((s.containers.get('a')?.spark.length ?? 0) <= SPARK_POINTS * 1.25 + 1);
  });
  it('a REST list replaces the set of containers and sets loaded', () => {
    const s = new FleetStore();
    s.applySample(makePayload({ name: 'gone', timestamp: at(1) }));
    s.applyList([{ name: 'b', status: 'offline', last_seen: at(1), sample: null }]);
    assert.deepEqual([...s.containers.keys()], ['b']);
    assert.equal(s.loaded, true);
  });
  it('rows: CPU % of limit from the agent (unclamped) else the Sirius field; summary counts only live containers', () => {
    const s = new FleetStore();
    const p = makePayload({ name: 'x', timestamp: at(1), cpu_percent: 100, cores_used: 3, limit_cores: 2 });
    s.applySample({ ...p, cpu: p.cpu === null ? null : { ...p.cpu, percent_of_limit: 150 } });
    s.applySample(makePayload({ name: 'y', timestamp: at(1), cpu_percent: 40, cores_used: 1, limit_cores: 4 }));
    s.applyStatus('y', 'stale');
    const x = s.containers.get('x');
    assert.ok(x !== undefined);
    assert.equal(fleetRow(x).cpu, 150);
    const sum = fleetSummary(s.containers.values(), [{ fingerprint: 'f', rule_id: 'r', name: 'n', container: 'x', gpu: null, state: 'firing', severity: 'critical', value: 1, since: at(0), fired_at: at(0), labels: {}, annotations: {}, silenced_by: [], acknowledged: null }]);
    assert.deepEqual(sum.byStatus, { ok: 1, stale: 1, offline: 0, exited: 0 });
    assert.equal(sum.coresUsed, 3);
    assert.equal(sum.coresLimit, 2);
    assert.equal(sum.firing, 1);
  });
  it('sorts with missing values last and filters by name', () => {
    const row = (name: string, cpu: number | null) => ({ name, status: 'ok' as const, cpu, mem: null, rx: null, tx: null, read: null, write: null, disk: null, gpus: 0, uptime: null });
    const rows = [row('b', 5), row('a', null), row('c', 50), row('d', 5)];
    assert.deepEqual(sortRows(rows, 'cpu', 'desc').map((r) => r.name), ['c', 'b', 'd', 'a']);
    assert.deepEqual(sortRows(rows, 'cpu', 'asc').map((r) => r.name), ['b', 'd', 'c', 'a']);
    assert.deepEqual(sortRows(rows, 'name', 'asc').map((r) => r.name), ['a', 'b', 'c', 'd']);
    assert.deepEqual(filterRows(rows, ' C ').map((r) => r.name), ['c']);
  });
});

describe('routes, ranges and token', () => {
  it('parses hash routes', () => {
    assert.deepEqual(parseRoute(''), { view: 'fleet' });
    assert.deepEqual(parseRoute('#/container/web%201?range=6h'), { view: 'container', name: 'web 1', range: '6h' });
    assert.deepEqual(parseRoute('#/gpus/compare'), { view: 'gpus', compare: true });
    assert.deepEqual(parseRoute('#/alerts'), { view: 'alerts' });
    assert.deepEqual(parseRoute('#/container/%E0%A4%A'), { view: 'fleet' }, 'bad encoding falls back to the fleet');
  });
  it('each range picks a resolution whose point count fits the server limit (5000)', () => {
    const perPoint = { raw: 1, '1m': 60, '5m': 300 } as const;
    for (const id of ['15m', '1h', '6h', '24h', '7d']) {
      const r = rangeById(id);
      assert.equal(r.id, id);
      assert.ok(r.seconds / perPoint[r.resolution] <= 5000, `${id} at ${r.resolution}`);
    }
    assert.equal(rangeById('nonsense').id, '15m');
    assert.equal(historyPath('a/b', rangeById('24h'), ['cpu_percent']), '/api/v1/containers/a%2Fb/history?since=-86400s&resolution=1m&fields=cpu_percent');
  });
  it('takes the token out of the URL and keeps it in storage', () => {
    assert.deepEqual(tokenFromUrl('http://h/?token=abc#/gpus'), { token: 'abc', cleaned: 'http://h/#/gpus' });
    assert.deepEqual(tokenFromUrl('http://h/#/'), { token: null, cleaned: 'http://h/#/' });
    const m = new Map<string, string>();
    const t = new TokenStore({ getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v), removeItem: (k) => m.delete(k) });
    t.set(' tok ');
    assert.equal(t.get(), 'tok');
    t.set('');
    assert.equal(t.get(), null);
  });
});
