import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { LeaderElector } from '../src/alerts/leader.js';
import { LEADER_KEY } from '../../shared/src/keys.js';

async function waitFor(what: string, ms: number, probe: () => boolean): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (probe()) return Date.now() - t0;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

describe('LeaderElector against a real redis-server', () => {
  let server: RedisServer;
  let port = 0;
  const clients: Redis[] = [];
  const client = (): Redis => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, commandTimeout: 500, retryStrategy: () => 100 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  before(async () => {
    port = await freePort();
    server = new RedisServer(port);
    await server.start();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server.stop();
  });

  it('exactly one of three leads; when it dies another takes over within the ttl', async () => {
    const ttl = 1500;
    const conns = [client(), client(), client()];
    const electors = conns.map((c, i) => new LeaderElector(c, { id: `agg-${i}`, ttlMs: ttl, renewMs: 300 }));
    for (const e of electors) e.start();
    await waitFor('a leader', 2000, () => electors.some((e) => e.isLeader()));
    await sleep(1000);
    const leaders = electors.filter((e) => e.isLeader());
    assert.equal(leaders.length, 1, 'exactly one leader after several renew rounds');
    const first = leaders[0];
    assert.ok(first !== undefined);
    assert.equal(await client().get(LEADER_KEY), first.id);

    // Kill the leader's connection without releasing: the lock must lapse and move.
    const idx = electors.indexOf(first);
    conns[idx]?.disconnect();
    const took = await waitFor('a new leader', ttl + 1500, () => electors.some((e, i) => i !== idx && e.isLeader()));
    assert.ok(took <= ttl + 700, `takeover took ${took} ms, ttl is ${ttl} ms`);
    assert.equal(first.isLeader(), false, 'the cut-off leader stepped down by itself');
    assert.equal(electors.filter((e) => e.isLeader()).length, 1);

    // A clean stop releases the lock: the successor is elected within about one renew period.
    const second = electors.find((e) => e.isLeader());
    assert.ok(second !== undefined);
    await second.stop();
    const quick = await waitFor('a third leader', 1500, () => electors.some((e) => e !== second && e !== first && e.isLeader()));
    assert.ok(quick < 800, `takeover after release took ${quick} ms`);
    for (const e of electors) await e.stop();
    assert.equal(await client().get(LEADER_KEY), null, 'released on stop');
  });

  it('refuses a renew period too close to the ttl', () => {
    assert.throws(() => new LeaderElector(client(), { id: 'x', ttlMs: 1000, renewMs: 600 }), /must be under half the ttl/);
  });
});
