import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, type ConnState, type StreamCallbacks } from './connection.js';

/** Manual clock: timers fire only when the test advances time. */
class FakeTimers {
  now = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  set = (fn: () => void, ms: number): number => {
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clear = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
}

function setup() {
  const timers = new FakeTimers();
  const streams: { lastId: string | null; cb: StreamCallbacks; closed: boolean }[] = [];
  const states: ConnState[] = [];
  const events: string[] = [];
  let polls = 0;
  const conn = new Connection({
    openStream(lastId, cb) {
      const s = { lastId, cb, closed: false };
      streams.push(s);
      return {
        close: () => {
          s.closed = true;
        },
      };
    },
    poll: () => {
      polls += 1;
      return Promise.resolve();
    },
    onEvent: (t, d) => events.push(`${t}:${d}`),
    onState: (s) => states.push(s),
    setTimer: timers.set,
    clearTimer: timers.clear,
    pollMs: 5000,
    retryMs: 10_000,
  });
  return { conn, timers, streams, states, events, polls: () => polls };
}

describe('connection: SSE with polling fallback', () => {
  it('goes live when the stream opens and passes events on', () => {
    const t = setup();
    t.conn.start();
    assert.deepEqual(t.states, ['connecting']);
    t.streams[0]?.cb.onOpen();
    t.streams[0]?.cb.onEvent('sample', '7', '{}');
    assert.deepEqual(t.states, ['connecting', 'live']);
    assert.deepEqual(t.events, ['sample:{}']);
    assert.equal(t.conn.lastEventId, '7');
    assert.equal(t.polls(), 0);
  });

  it('on a stream error: polls at once and every 5 s, retries the stream every 10 s resuming after the last id, and stops polling when it opens', () => {
    const t = setup();
    t.conn.start();
    t.streams[0]?.cb.onOpen();
    t.streams[0]?.cb.onEvent('sample', '41', 'a');
    t.streams[0]?.cb.onError();
    assert.equal(t.streams[0]?.closed, true, 'the broken stream is closed (no browser auto-retry competing)');
    assert.equal(t.conn.state, 'polling');
    assert.equal(t.polls(), 1, 'first poll at once');
    t.timers.advance(5000);
    assert.equal(t.polls(), 2);
    t.timers.advance(5000);
    assert.equal(t.polls(), 3);
    assert.equal(t.streams.length, 2, 'a new stream tried after 10 s');
    assert.equal(t.streams[1]?.lastId, '41', 'resuming after the last event seen');
    t.streams[1]?.cb.onError();
    assert.equal(t.conn.state, 'polling');
    t.timers.advance(10_000);
    assert.equal(t.streams.length, 3);
    const pollsBefore = t.polls();
    t.streams[2]?.cb.onOpen();
    assert.equal(t.conn.state, 'live');
    t.timers.advance(60_000);
    assert.equal(t.polls(), pollsBefore, 'no polling while live');
    assert.equal(t.streams.length, 3, 'no retries while live');
    assert.deepEqual(t.states, ['connecting', 'live', 'polling', 'live']);
  });

  it('a stream that never opens falls back to polling too; callbacks of a closed stream are ignored', () => {
    const t = setup();
    t.conn.start();
    t.streams[0]?.cb.onError();
    assert.equal(t.conn.state, 'polling');
    t.streams[0]?.cb.onEvent('sample', '99', 'late');
    t.streams[0]?.cb.onOpen();
    assert.equal(t.conn.state, 'polling', 'an old stream cannot flip the state');
    assert.deepEqual(t.events, []);
  });

  it('stop() ends polling and retries', () => {
    const t = setup();
    t.conn.start();
    t.streams[0]?.cb.onError();
    t.conn.stop();
    const n = t.polls();
    t.timers.advance(60_000);
    assert.equal(t.polls(), n);
    assert.equal(t.streams.length, 1);
    assert.equal(t.conn.state, 'stopped');
  });
});
