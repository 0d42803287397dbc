import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from './config.js';
import { describeValkey, ioredisOptions, valkeyConfigFromEnv } from './valkey.js';

describe('valkeyConfigFromEnv', () => {
  it('Sirius names: VALKEY_HOST / VALKEY_PORT, default localhost:6379', () => {
    const d = valkeyConfigFromEnv({});
    assert.equal(d.host, 'localhost');
    assert.equal(d.port, 6379);
    assert.equal(d.sentinel, null);
    const c = valkeyConfigFromEnv({ VALKEY_HOST: 'sirius-valkey', VALKEY_PORT: '6380', VALKEY_PASSWORD: 'p', VALKEY_DB: '3', VALKEY_TLS: 'yes' });
    assert.deepEqual([c.host, c.port, c.password, c.db, c.tls], ['sirius-valkey', 6380, 'p', 3, true]);
  });

  it('VALKEY_URL with user, password, db and rediss://', () => {
    const c = valkeyConfigFromEnv({ VALKEY_URL: 'rediss://me:s%3Acret@[::1]:7000/5', VALKEY_HOST: 'ignored' });
    assert.deepEqual([c.host, c.port, c.username, c.password, c.db, c.tls], ['::1', 7000, 'me', 's:cret', 5, true]);
    assert.equal(describeValkey(c), 'rediss://::1:7000/5');
  });

  it('Sentinel: VALKEY_SENTINELS + VALKEY_SENTINEL_NAME become ioredis sentinel options', () => {
    const c = valkeyConfigFromEnv({ VALKEY_SENTINELS: 's1:26379, [fe80::1]:26380', VALKEY_SENTINEL_NAME: 'mymaster', VALKEY_PASSWORD: 'pw', VALKEY_SENTINEL_PASSWORD: 'spw' });
    assert.deepEqual(c.sentinel, { nodes: [{ host: 's1', port: 26379 }, { host: 'fe80::1', port: 26380 }], name: 'mymaster', password: 'spw' });
    const o = ioredisOptions(c);
    assert.deepEqual(o.sentinels, c.sentinel?.nodes);
    assert.equal(o.name, 'mymaster');
    assert.equal(o.password, 'pw');
    assert.equal(o.host, undefined, 'the master comes from the sentinels, not a fixed host');
    assert.match(describeValkey(c), /^sentinel mymaster@s1:26379,fe80::1:26380\/0$/);
  });

  it('Cluster: VALKEY_CLUSTER_NODES seeds with the single-node credentials and TLS', () => {
    const c = valkeyConfigFromEnv({ VALKEY_CLUSTER_NODES: ' 10.0.0.1:7000,10.0.0.2:7001 ,[::1]:7002', VALKEY_USERNAME: 'u', VALKEY_PASSWORD: 'pw', VALKEY_TLS: 'true' });
    assert.deepEqual(c.cluster, { nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '::1', port: 7002 }] });
    assert.deepEqual([c.username, c.password, c.tls, c.db, c.sentinel, c.source], ['u', 'pw', true, 0, null, 'VALKEY_CLUSTER_NODES']);
    assert.equal(describeValkey(c), 'cluster rediss://10.0.0.1:7000,10.0.0.2:7001,::1:7002');
    assert.equal(valkeyConfigFromEnv({ VALKEY_HOST: 'h' }).cluster, null, 'no cluster unless asked for');
  });

  it('bad values are one ConfigError naming the setting', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ VALKEY_PORT: 'abc' }, /^VALKEY_PORT: /],
      [{ VALKEY_PORT: '70000' }, /^VALKEY_PORT: must be 1–65535/],
      [{ VALKEY_DB: '-1' }, /^VALKEY_DB: /],
      [{ VALKEY_TLS: 'maybe' }, /^VALKEY_TLS: must be true or false/],
      [{ VALKEY_URL: 'http://x' }, /^VALKEY_URL: scheme must be redis:\/\//],
      [{ VALKEY_URL: 'not a url' }, /^VALKEY_URL: not a URL/],
      [{ VALKEY_SENTINELS: 's1:26379' }, /VALKEY_SENTINEL_NAME is not/],
      [{ VALKEY_SENTINEL_NAME: 'm' }, /VALKEY_SENTINELS is not/],
      [{ VALKEY_SENTINELS: 's1', VALKEY_SENTINEL_NAME: 'm' }, /^VALKEY_SENTINELS: must be host:port/],
      [{ VALKEY_SENTINELS: 's1:0', VALKEY_SENTINEL_NAME: 'm' }, /^VALKEY_SENTINELS: port must be 1–65535/],
      [{ VALKEY_CLUSTER_NODES: 'n1' }, /^VALKEY_CLUSTER_NODES: must be host:port/],
      [{ VALKEY_CLUSTER_NODES: 'n1:7000,n2:99999' }, /^VALKEY_CLUSTER_NODES: port must be 1–65535/],
      [{ VALKEY_CLUSTER_NODES: ',' }, /^VALKEY_CLUSTER_NODES: must list at least one host:port/],
      [{ VALKEY_CLUSTER_NODES: 'n1:7000', VALKEY_URL: 'redis://x' }, /both set.*unset VALKEY_URL/],
      [{ VALKEY_CLUSTER_NODES: 'n1:7000', VALKEY_SENTINELS: 's:26379', VALKEY_SENTINEL_NAME: 'm' }, /use one of Cluster or Sentinel/],
      [{ VALKEY_CLUSTER_NODES: 'n1:7000', VALKEY_DB: '2' }, /^VALKEY_DB: a cluster has only database 0/],
      [{ VALKEY_CLUSTER_NODES: 'n1:7000', VALKEY_TLS: 'perhaps' }, /^VALKEY_TLS: must be true or false/],
    ];
    for (const [env, re] of cases) {
      assert.throws(() => valkeyConfigFromEnv(env), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
    }
  });
});
