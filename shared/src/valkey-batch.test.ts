import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisCluster } from '../../agent/test/helpers/redis-cluster.js';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { execBatch, getMany } from './valkey-batch.js';
import { createValkeyClient, isCluster, pingValkey, valkeyConfigFromEnv, type ValkeyClient } from './valkey.js';

const settings = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 };
const keys = ['system:metrics:web-1', 'system:metrics:db-1', 'system:containers', 'system:history:web-1', 'system:metrics:cache-7'];

/** The same batch against one server and a cluster must give the same results in the same order. */
async function exercise(client: ValkeyClient): Promise<void> {
  await client.connect();
  const results = await execBatch(client, [
    ['set', keys[0] ?? '', 'a', 'EX', 60],
    ['set', keys[1] ?? '', 'b'],
    ['zadd', keys[2] ?? '', 5, 'web-1'],
    ['xadd', keys[3] ?? '', 'MAXLEN', '~', 10, '*', 'f', 'v'],
    ['incr', keys[0] ?? ''],
    ['get', keys[1] ?? ''],
  ]);
  assert.equal(results.length, 6);
  assert.deepEqual(results.slice(0, 3), [[null, 'OK'], [null, 'OK'], [null, 1]]);
  assert.equal(results[3]?.[0], null);
  assert.match(String(results[3]?.[1]), /^\d+-\d+$/);
  assert.match(String(results[4]?.[0]?.message), /not an integer/, 'a failed command reports its own error in its own place');
  assert.deepEqual(results[5], [null, 'b']);
  assert.deepEqual(await getMany(client, [keys[1] ?? '', keys[4] ?? '', keys[0] ?? '']), ['b', null, 'a']);
  assert.deepEqual(await getMany(client, []), []);
}

describe('execBatch and getMany on one server', () => {
  it('one pipeline, results in order, errors in place', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const client = createValkeyClient(valkeyConfigFromEnv({ VALKEY_URL: `redis://127.0.0.1:${server.port}` }), settings);
    assert.equal(isCluster(client), false);
    try {
      await exercise(client);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });
});

describe('execBatch and getMany on a 3-master cluster', () => {
  const cluster = new RedisCluster(3);
  before(async () => {
    await cluster.start();
  });
  after(async () => {
    await cluster.stop();
  });

  it('keys on different masters: plain MGET is refused, the split read and batch work', async () => {
    const seed = cluster.ports[0] ?? 0;
    const owners = new Set(await Promise.all(keys.map((k) => cluster.masterOf(k, seed))));
    assert.ok(owners.size >= 2, `the test keys must span masters (they sit on ${[...owners].join(', ')})`);
    const client = createValkeyClient(valkeyConfigFromEnv({ VALKEY_CLUSTER_NODES: cluster.seeds }), settings);
    client.on('error', () => undefined);
    assert.equal(isCluster(client), true);
    try {
      await exercise(client);
      await assert.rejects(client.mget(keys[0] ?? '', keys[1] ?? ''), /CROSSSLOT|same slot/, 'what getMany avoids');
      // Every write landed on the master that owns its key.
      for (const k of [keys[0], keys[1]]) {
        const port = await cluster.masterOf(k ?? '', seed);
        const direct = new Redis({ port, host: '127.0.0.1' });
        assert.notEqual(await direct.exists(k ?? ''), 0, `${k ?? ''} on its master ${port}`);
        direct.disconnect();
      }
    } finally {
      client.disconnect();
    }
  });

  it("doctor's ping reaches the cluster and reads a key from whichever master holds it", async () => {
    const cfg = valkeyConfigFromEnv({ VALKEY_CLUSTER_NODES: cluster.seeds });
    const r = await pingValkey(cfg, 2000, keys[1]);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.ok && r.value, 'b');
    const down = await pingValkey(valkeyConfigFromEnv({ VALKEY_CLUSTER_NODES: `127.0.0.1:${await freePort()}` }), 500);
    assert.equal(down.ok, false, 'no seed node answers');
  });
});
