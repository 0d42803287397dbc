import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { payloadSchema } from '../../../shared/src/payload.js';
import { makePayload } from '../../test/helpers/payload.js';
import { PACK_DICTIONARY, packSample, unpackSample } from './pack.js';

describe('packed samples', () => {
  it('unpack gives back exactly the JSON that was packed', () => {
    for (let i = 0; i < 50; i++) {
      const p = { ...makePayload({ name: `pack-${i}` }), seq: i * 977, memory_usage_bytes: i * 123_457, cpu_percent: (i * 7.31) % 100 };
      const json = JSON.stringify(p);
      assert.equal(unpackSample(packSample(json)), json);
    }
    const odd = JSON.stringify({ ...makePayload({ name: 'ünï-😀' }) });
    assert.equal(unpackSample(packSample(odd)), odd);
  });

  it('the dictionary names every field of the payload, so a sample packs to a small fraction of its size', () => {
    const dict = PACK_DICTIONARY.toString();
    for (const key of Object.keys(payloadSchema.shape)) assert.ok(dict.includes(`"${key}":`), `dictionary lacks ${key}`);
    const json = JSON.stringify(makePayload({ name: 'ratio' }));
    const packed = packSample(json);
    assert.ok(packed.length * 4 < json.length, `${json.length} bytes packed to ${packed.length}`);
  });
});
