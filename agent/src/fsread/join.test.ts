import assert from 'node:assert/strict';
import { join as pathJoin } from 'node:path';
import { describe, it } from 'node:test';
import { join, setJoinMemoLimit } from './join.js';

describe('join (remembered path.join)', () => {
  it('gives path.join results, including normalisation, every time it is asked', () => {
    const cases: string[][] = [['/sys/fs/cgroup', 'memory.current'], ['/proc/', '12', 'task', '13', 'stat'], ['/a/b/', '../c', './d'], ['rel', 'x'], ['/a', ''], ['', 'x'], [''], ['/a/', ''], ['a/b', 'c'], ['a', 'b/c'], ['a', '/', 'c']];
    for (let round = 0; round < 2; round++) {
      for (const parts of cases) assert.equal(join(...parts), pathJoin(...parts), parts.join(' + '));
    }
    assert.equal(join('/x', 'y'), '/x/y');
    assert.equal(join('/x/', '/y/'), '/x/y/');
  });

  it('keeps answering correctly past its size bound', () => {
    for (let i = 0; i < 5000; i++) assert.equal(join('/proc', String(i), 'stat'), `/proc/${i}/stat`);
    assert.equal(join('/proc', '4999', 'stat'), '/proc/4999/stat');
    // Two parts are remembered apart from longer joins (by the two strings, no key built): the same bound holds.
    for (let i = 0; i < 5000; i++) assert.equal(join(`/sys/fs/cgroup/c${i % 700}`, i % 2 === 0 ? 'cpu.stat' : '../x'), pathJoin(`/sys/fs/cgroup/c${i % 700}`, i % 2 === 0 ? 'cpu.stat' : '../x'));
  });

  it('answers the same under a tiny bound, and after the bound is changed', () => {
    try {
      setJoinMemoLimit(3);
      for (let round = 0; round < 3; round++) {
        for (const [a, b] of [['/a', 'b'], ['/a', 'c'], ['/d', 'b'], ['/d/', '../e'], ['', ''], ['x', '']] as const) assert.equal(join(a, b), pathJoin(a, b), `${a} + ${b}`);
      }
    } finally {
      setJoinMemoLimit(2048);
    }
    assert.equal(join('/a', 'b'), '/a/b');
  });
});
