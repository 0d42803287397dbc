import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { valkeyConfigFromEnv } from '../../shared/src/valkey.js';
import { classifyValkeyError, reconnectDelayMs } from './valkey-errors.js';

const plain = valkeyConfigFromEnv({ VALKEY_HOST: 'v', VALKEY_PORT: '6380' });
const viaUrl = valkeyConfigFromEnv({ VALKEY_URL: 'rediss://:pw@v:6380/2' });

function errno(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyValkeyError', () => {
  it('names the password setting the user actually used', () => {
    const e = new Error('WRONGPASS invalid username-password pair or user is disabled.');
    assert.equal(classifyValkeyError(e, plain).kind, 'auth');
    assert.match(classifyValkeyError(e, plain).message, /check VALKEY_PASSWORD$/);
    assert.match(classifyValkeyError(e, viaUrl).message, /check the password in VALKEY_URL$/);
    assert.equal(classifyValkeyError(new Error('NOAUTH Authentication required.'), plain).kind, 'auth');
  });

  it('hints at TLS from the configured side of the mismatch', () => {
    const timeout = classifyValkeyError(errno('connect ETIMEDOUT', 'ETIMEDOUT'), viaUrl);
    assert.equal(timeout.kind, 'timeout');
    assert.match(timeout.message, /rediss:\/\/ scheme of VALKEY_URL/);
    const reset = classifyValkeyError(errno('read ECONNRESET', 'ECONNRESET'), plain);
    assert.match(reset.message, /set VALKEY_TLS=true/);
    const ssl = classifyValkeyError(new Error('140:error:0A00010B:SSL routines::wrong version number'), viaUrl);
    assert.equal(ssl.kind, 'tls');
  });

  it('unreachable, timed out and racing writes are told apart', () => {
    assert.equal(classifyValkeyError(errno('connect ECONNREFUSED 127.0.0.1:6380', 'ECONNREFUSED'), plain).kind, 'unreachable');
    assert.equal(classifyValkeyError(new Error('Command timed out'), plain).kind, 'timeout');
    const closed = classifyValkeyError(new Error("Stream isn't writeable and enableOfflineQueue options is false"), plain);
    assert.equal(closed.kind, 'closed');
    assert.doesNotMatch(closed.message, /TLS/);
    assert.equal(classifyValkeyError('weird', plain).kind, 'command');
  });

  it('a cluster mid-failover is named as such, with its seed nodes', () => {
    const cluster = valkeyConfigFromEnv({ VALKEY_CLUSTER_NODES: 'n1:7000,n2:7001' });
    for (const text of ['CLUSTERDOWN The cluster is down', 'Too many Cluster redirections. Last error: Error: Connection is closed.', 'Failed to refresh slots cache.']) {
      const p = classifyValkeyError(new Error(text), cluster);
      assert.equal(p.kind, 'unreachable', text);
      assert.match(p.message, /^Valkey cluster n1:7000,n2:7001 cannot serve every slot now .*a failover may be under way/);
    }
    assert.match(classifyValkeyError(new Error('Command timed out'), cluster).message, /^Valkey at cluster n1:7000,n2:7001 did not answer/);
  });
});

describe('reconnectDelayMs', () => {
  it('doubles from 100 ms with jitter in the upper half, capped at 2 s for transient errors', () => {
    assert.equal(reconnectDelayMs(1, 'unreachable', () => 1), 200);
    assert.equal(reconnectDelayMs(1, 'unreachable', () => 0), 100);
    assert.equal(reconnectDelayMs(20, 'unreachable', () => 1), 2000);
    assert.equal(reconnectDelayMs(20, null, () => 0), 1000);
  });

  it('auth and TLS errors back off to 30 s: they do not heal by retrying fast', () => {
    assert.equal(reconnectDelayMs(20, 'auth', () => 1), 30_000);
    assert.equal(reconnectDelayMs(20, 'tls', () => 0), 15_000);
  });
});
