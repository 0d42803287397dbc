import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../shared/src/config.js';
import { loadAggregatorConfig } from './config.js';

describe('loadAggregatorConfig', () => {
  it('defaults: 127.0.0.1:8080, 5 s, 24 h retention, no auth, CORS off', () => {
    const c = loadAggregatorConfig({}, {});
    assert.deepEqual([c.host, c.port, c.intervalMs, c.retentionMs, c.authTokensFile, c.corsOrigins], ['127.0.0.1', 8080, 5000, 86_400_000, null, []]);
  });

  it('HTTP settings: allowed hosts and client caps, defaults and settings', () => {
    const d = loadAggregatorConfig({}, {});
    assert.deepEqual([d.allowedHosts, d.httpMaxConnections, d.httpMaxConnectionsPerAddress, d.sseMaxClients, d.sseMaxClientsPerAddress], [[], 2048, 256, 1000, 32]);
    const c = loadAggregatorConfig({}, { ALLOWED_HOSTS: 'monitor.example, [fd00::1]:8080,10.0.0.5', HTTP_MAX_CONNECTIONS: '100', HTTP_MAX_CONNECTIONS_PER_ADDRESS: '10', SSE_MAX_CLIENTS: '50', SSE_MAX_CLIENTS_PER_ADDRESS: '5' });
    assert.deepEqual([c.allowedHosts, c.httpMaxConnections, c.httpMaxConnectionsPerAddress, c.sseMaxClients, c.sseMaxClientsPerAddress], [['monitor.example', '[fd00::1]:8080', '10.0.0.5'], 100, 10, 50, 5]);
  });

  it('alert rules file and capacity buffer: defaults and settings', () => {
    const d = loadAggregatorConfig({}, {});
    assert.deepEqual([d.alertRulesFile, d.capacityBuffer], [null, 0.2]);
    const c = loadAggregatorConfig({ capacityBuffer: '0.3' }, { ALERT_RULES_FILE: '/etc/rules.yaml', CAPACITY_BUFFER: '0.1' });
    assert.deepEqual([c.alertRulesFile, c.capacityBuffer], ['/etc/rules.yaml', 0.3]);
  });

  it('flags win over env', () => {
    const c = loadAggregatorConfig({ port: '9000' }, { PORT: '1', HOST: '0.0.0.0', CORS_ORIGINS: 'https://a.example, https://b.example' });
    assert.equal(c.port, 9000);
    assert.equal(c.host, '0.0.0.0');
    assert.deepEqual(c.corsOrigins, ['https://a.example', 'https://b.example']);
  });

  it('CORS origins are compared as browsers send them: trailing slash, host case and default port normalised; empty is off', () => {
    const c = loadAggregatorConfig({}, { CORS_ORIGINS: 'http://localhost:3000/,HTTPS://UI.Example:443,http://b.example:80' });
    assert.deepEqual(c.corsOrigins, ['http://localhost:3000', 'https://ui.example', 'http://b.example']);
    assert.deepEqual(loadAggregatorConfig({}, { CORS_ORIGINS: '' }).corsOrigins, []);
    assert.deepEqual(loadAggregatorConfig({}, { CORS_ORIGINS: '*', AUTH_TOKENS_FILE: '/etc/tokens.json' }).corsOrigins, ['*']);
  });

  it('bad values are one ConfigError naming the setting', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: '70000' }, /^PORT: must be at most 65535/],
      [{ PORT: 'http' }, /^PORT: must be a whole number/],
      [{ INTERVAL_SECONDS: '0' }, /^INTERVAL_SECONDS: /],
      [{ RETENTION_SECONDS: '5' }, /^RETENTION_SECONDS: must be at least 60/],
      [{ AUTH_TOKENS_FILE: 'tokens.json' }, /^AUTH_TOKENS_FILE: must be an absolute path/],
      [{ CORS_ORIGINS: 'not a url' }, /^CORS_ORIGINS: /],
      [{ CORS_ORIGINS: 'http://ui.example/app' }, /^CORS_ORIGINS: must be origins \(scheme:\/\/host\[:port\]\) without a path/],
      [{ CORS_ORIGINS: 'http://ui.example?x=1' }, /^CORS_ORIGINS: must be origins/],
      [{ CORS_ORIGINS: 'ftp://ui.example' }, /^CORS_ORIGINS: must be http:\/\/ or https:\/\/ origins/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of/],
      [{ ALERT_RULES_FILE: 'rules.yaml' }, /^ALERT_RULES_FILE: must be an absolute path/],
      [{ CAPACITY_BUFFER: '2' }, /^CAPACITY_BUFFER: must be at most 0.95/],
      [{ CORS_ORIGINS: '*' }, /^CORS_ORIGINS=\* without tokens .* set AUTH_TOKENS_FILE/],
      [{ CORS_ORIGINS: 'https://ui.example,*' }, /^CORS_ORIGINS=\* without tokens/],
      [{ ALLOWED_HOSTS: 'http://monitor.example' }, /^ALLOWED_HOSTS: must be host names/],
      [{ SSE_MAX_CLIENTS: '0' }, /^SSE_MAX_CLIENTS: must be at least 1/],
      [{ HTTP_MAX_CONNECTIONS_PER_ADDRESS: 'lots' }, /^HTTP_MAX_CONNECTIONS_PER_ADDRESS: must be a whole number/],
    ];
    for (const [env, re] of cases) {
      assert.throws(() => loadAggregatorConfig({}, env), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
    }
  });
});
