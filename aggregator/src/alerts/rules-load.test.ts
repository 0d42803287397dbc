import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRules, RulesError } from './rules-load.js';
import { defaultRules } from './default-rules.js';

describe('parseRules', () => {
  it('reads YAML with durations and defaults', () => {
    const f = parseRules(['rules:', '  - id: mem', '    name: Memory', '    metric: memory_percent', '    warn: 90', '    crit: 97', '    for: 1m', '    keep_firing_for: 30s'].join('\n'), 'r.yaml');
    const r = f.rules[0];
    assert.equal(r?.kind, 'threshold');
    assert.equal(r?.for, 60_000);
    assert.equal(r?.keep_firing_for, 30_000);
  });

  it('reads JSON', () => {
    const f = parseRules('{"rules":[{"id":"oom","name":"OOM","kind":"increase","metric":"memory.oom_kills_total"}]}', 'r.json');
    assert.equal(f.rules[0]?.kind, 'increase');
  });

  it('points at the line and field of a bad value', () => {
    const text = ['rules:', '  - id: mem', '    name: Memory', '    metric: memory_percent', '    warn: 90', '    for: soon'].join('\n');
    assert.throws(() => parseRules(text, 'r.yaml'), (e: unknown) => e instanceof RulesError && /r\.yaml:6:\d+: rules\[0\]\.for: must be a duration/.test(e.message));
  });

  it('points at the line of a JSON syntax error', () => {
    assert.throws(() => parseRules('{"rules": [\n  {"id": "x",,}\n]}', 'r.json'), (e: unknown) => e instanceof RulesError && /^r\.json:2:/.test(e.message));
  });

  it('rejects a threshold rule with neither warn nor crit, and clear on the wrong side', () => {
    const text = ['rules:', '  - id: a', '    name: A', '    metric: cpu_percent', '  - id: b', '    name: B', '    metric: cpu_percent', '    warn: 80', '    clear: {warn: 90}'].join('\n');
    assert.throws(() => parseRules(text, 'f'), (e: unknown) => e instanceof RulesError && /f:2:\d+: rules\[0\]\.warn: a threshold rule needs warn/.test(e.message) && /rules\[1\]\.clear\.warn: clear\.warn must be on the lower side/.test(e.message));
  });

  it('rejects duplicate ids, unknown fields and bad kinds', () => {
    assert.throws(() => parseRules('rules:\n  - {id: a, name: A, metric: cpu_percent, warn: 1}\n  - {id: a, name: B, metric: cpu_percent, warn: 1}\n', 'f'), /f:3:\d+: rules\[1\]\.id: duplicate id "a"/);
    assert.throws(() => parseRules('rules:\n  - {id: a, name: A, metric: cpu_percent, warn: 1, threshold: 3}\n', 'f'), /threshold/);
    assert.throws(() => parseRules('rules:\n  - {id: a, name: A, kind: sometimes, metric: cpu_percent}\n', 'f'), /kind must be threshold, increase, decrease or container_down/);
    assert.throws(() => parseRules('rules:\n  - {id: a, name: A, metric: "cpu percent", warn: 1}\n', 'f'), /must be a payload path/);
  });

  it('ships valid defaults covering the issue list', () => {
    const ids = defaultRules().rules.map((r) => r.id);
    for (const id of ['cpu_high', 'cpu_throttled', 'memory_high', 'oom_kill', 'disk_high', 'gpu_temperature', 'gpu_memory', 'container_restarted', 'container_down']) {
      assert.ok(ids.includes(id), id);
    }
  });
});
