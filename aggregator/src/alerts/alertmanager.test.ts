import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../shared/src/config.js';
import { parseAlertmanagerUrls, parseResendSeconds } from './alertmanager.js';
import { silenceActive, silenceMatches, type Silence } from './silences.js';

describe('ALERTMANAGER_URL and ALERTMANAGER_RESEND_SECONDS', () => {
  it('takes one or more comma-separated http(s) URLs; unset is none', () => {
    assert.deepEqual(parseAlertmanagerUrls(undefined), []);
    assert.deepEqual(parseAlertmanagerUrls(' '), []);
    assert.deepEqual(parseAlertmanagerUrls('http://am-1:9093, https://am-2:9093/prefix'), ['http://am-1:9093', 'https://am-2:9093/prefix']);
  });

  it('refuses a bad URL without echoing its secret parts', () => {
    assert.throws(() => parseAlertmanagerUrls('ftp://am:9093/secret-path'), (err: unknown) => err instanceof ConfigError && /ALERTMANAGER_URL/.test(err.message) && !err.message.includes('secret-path'));
    assert.throws(() => parseAlertmanagerUrls('not a url'), ConfigError);
  });

  it('resend: 60 s by default, 1 to 3600 s', () => {
    assert.equal(parseResendSeconds(undefined), 60);
    assert.equal(parseResendSeconds('2'), 2);
    assert.throws(() => parseResendSeconds('0'), ConfigError);
    assert.throws(() => parseResendSeconds('soon'), ConfigError);
  });
});

describe('silence matching', () => {
  const s: Silence = { id: '00000000-0000-4000-8000-000000000000', rule_id: 'mem', container: null, comment: 'c', created_by: 'a', created_at: 0, ends_at: 1000, expired_at: null, expired_by: null };
  it('matches by rule, by container, or both', () => {
    assert.equal(silenceMatches(s, { rule_id: 'mem', container: 'x' }), true);
    assert.equal(silenceMatches(s, { rule_id: 'cpu', container: 'x' }), false);
    assert.equal(silenceMatches({ ...s, container: 'x' }, { rule_id: 'mem', container: 'y' }), false);
    assert.equal(silenceMatches({ ...s, rule_id: null, container: 'x' }, { rule_id: 'cpu', container: 'x' }), true);
  });
  it('is active until it ends or is expired', () => {
    assert.equal(silenceActive(s, 999), true);
    assert.equal(silenceActive(s, 1000), false);
    assert.equal(silenceActive({ ...s, expired_at: 500 }, 600), false);
  });
});
