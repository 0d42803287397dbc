import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { parseStartOptions } from './start-options.js';

describe('npm start options', () => {
  it('defaults: a free Valkey port, the aggregator on 127.0.0.1:8080, the agent named local-<hostname>', () => {
    assert.deepEqual(parseStartOptions([], {}), { valkeyUrl: null, valkeyPort: null, host: '127.0.0.1', port: 8080, containerName: `local-${hostname()}` });
  });

  it('flags win over the environment', () => {
    const o = parseStartOptions(['--port', '9000', '--container-name', 'box'], { PORT: '7000', CONTAINER_NAME: 'env', HOST: '0.0.0.0', VALKEY_URL: 'redis://127.0.0.1:7777' });
    assert.deepEqual(o, { valkeyUrl: 'redis://127.0.0.1:7777', valkeyPort: null, host: '0.0.0.0', port: 9000, containerName: 'box' });
    assert.equal(parseStartOptions(['--valkey-port', '6390'], {}).valkeyPort, 6390);
  });

  it('refuses bad values with the setting named', () => {
    assert.throws(() => parseStartOptions(['--valkey-port', 'nope'], {}), /^ConfigError: --valkey-port: must be a whole number from 1 to 65535 \(got "nope"\)/);
    assert.throws(() => parseStartOptions([], { PORT: '70000' }), /^ConfigError: PORT: must be at most 65535/);
    assert.throws(() => parseStartOptions(['--valkey-url', 'http://x'], {}), /^ConfigError: --valkey-url: scheme must be redis:\/\/ or rediss:\/\//);
    assert.throws(() => parseStartOptions([], { VALKEY_URL: 'not a url' }), /^ConfigError: VALKEY_URL: not a URL/);
    assert.throws(() => parseStartOptions(['--valkey-url', 'redis://h', '--valkey-port', '1'], {}), /give one of them/);
    assert.throws(() => parseStartOptions(['--container-name', 'a b'], {}), /--container-name: must not contain whitespace/);
    assert.throws(() => parseStartOptions(['--bogus'], {}), /Unknown option '--bogus'[\s\S]*usage: npm start/);
  });
});
