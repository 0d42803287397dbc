import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IngestEvent } from '../ingest/protocol.js';
import { IngestBacklog } from './backlog.js';

/** A samples event of `n` samples of `size` characters (and as many packed bytes). */
function samples(tag: string, n: number, size: number): IngestEvent {
  return { type: 'samples', raws: Array.from({ length: n }, (_, i) => `${tag}${String(i)}`.padEnd(size, 'x')), packed: Array.from({ length: n }, () => new Uint8Array(size)), rejected: {} };
}

const registry: IngestEvent = { type: 'poll-registry', names: ['a'], scores: [1], rejected: {} };

describe('IngestBacklog', () => {
  it('keeps every event in order while under its bound, and counts the bytes it holds', () => {
    const b = new IngestBacklog(10_000);
    b.push(samples('a', 2, 100));
    b.push(registry);
    b.push(samples('b', 1, 100));
    assert.equal(b.queuedBytes, 3 * 200);
    assert.deepEqual([b.shift()?.type, b.shift()?.type, b.shift()?.type, b.shift()], ['samples', 'poll-registry', 'samples', undefined]);
    assert.equal(b.queuedBytes, 0);
    assert.equal(b.droppedSamples, 0);
  });

  it('over its bound, drops the oldest sample batches, never registry or re-sync events, and counts the samples', () => {
    const b = new IngestBacklog(1000);
    b.push(samples('old', 2, 100)); // 400 bytes
    b.push(registry);
    b.push(samples('mid', 1, 100)); // 200
    b.push(samples('new', 2, 100)); // 400: 1000 in all, at the bound
    assert.equal(b.droppedSamples, 0);
    b.push(samples('newest', 1, 100)); // 1200: the oldest batch (2 samples) goes
    assert.equal(b.droppedSamples, 2);
    assert.equal(b.queuedBytes, 800);
    const kept: string[] = [];
    for (let e = b.shift(); e !== undefined; e = b.shift()) kept.push(e.type === 'samples' ? (e.raws[0] ?? '').replace(/\d?x+$/, '') : e.type);
    assert.deepEqual(kept, ['poll-registry', 'mid', 'new', 'newest']);
  });

  it('keeps the newest event even when it alone is over the bound, and stays bounded under a long flood', () => {
    const b = new IngestBacklog(1000);
    b.push(samples('huge', 1, 2000));
    assert.equal(b.length, 1);
    for (let i = 0; i < 10_000; i++) b.push(samples('f', 1, 100));
    assert.ok(b.queuedBytes <= 1000, `bytes ${String(b.queuedBytes)}`);
    assert.equal(b.droppedSamples + b.length, 10_001);
  });
});
