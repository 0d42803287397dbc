import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describePublished } from './doctor.js';

describe('describePublished', () => {
  it('says plainly when there is no sample, or something foreign under the key', () => {
    assert.match(describePublished('web', null, 0), /^no sample under system:metrics:web \(no agent running as "web"/);
    assert.equal(describePublished('web', 'not json{', 0), 'system:metrics:web holds something that is not JSON');
    assert.match(describePublished('web', '{"container_name":"web"}', 0), /^system:metrics:web holds JSON that is not a valid sample: /);
  });
});
