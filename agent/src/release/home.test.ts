import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { releaseHomeOf } from './home.js';

describe('releaseHomeOf', () => {
  it("is the release directory when the program is the release's loader or its single executable", () => {
    assert.equal(releaseHomeOf('/opt/system-monitor/lib/ld-linux-x86-64.so.2'), '/opt/system-monitor');
    assert.equal(releaseHomeOf('/srv/a b/system-monitor/libexec/system-monitor-node'), '/srv/a b/system-monitor');
  });

  it('is null for Node running a bundle or the source, and for the system loader', () => {
    assert.equal(releaseHomeOf('/usr/bin/node'), null);
    assert.equal(releaseHomeOf('/lib64/ld-linux-x86-64.so.2'), null);
    assert.equal(releaseHomeOf('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), null);
  });
});
