import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SIRIUS_LOG_LEVELS, siriusLevel, siriusLogEntrySchema } from './sirius.js';

describe('Sirius log levels', () => {
  it('upper case as SiriusScan writes them; warning is WARN; unknown levels are kept, upper-cased', () => {
    assert.deepEqual(['info', 'warn', 'error'].map(siriusLevel), [...SIRIUS_LOG_LEVELS]);
    assert.deepEqual(['INFO', 'Warn', 'warning', 'WARNING', ' error ', 'debug', ''].map(siriusLevel), ['INFO', 'WARN', 'WARN', 'WARN', 'ERROR', 'DEBUG', '']);
  });

  it('an entry an older agent wrote in lower case is read in upper case; a malformed one is refused', () => {
    const e = siriusLogEntrySchema.parse({ container_name: 'a', timestamp: '2026-01-01T00:00:00Z', level: 'warn', message: 'm' });
    assert.equal(e.level, 'WARN');
    assert.equal(siriusLogEntrySchema.safeParse({ container_name: 'a', timestamp: 't', level: 3, message: 'm' }).success, false);
    assert.equal(siriusLogEntrySchema.safeParse({ container_name: 'a', level: 'info', message: 'm' }).success, false);
  });
});
