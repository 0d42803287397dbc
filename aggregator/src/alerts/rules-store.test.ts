import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RulesStore } from './rules-store.js';
import { RulesError } from './rules-load.js';

describe('RulesStore', () => {
  it('uses the defaults without a file', async () => {
    const s = new RulesStore(null);
    assert.ok((await s.load()).rules.some((r) => r.id === 'container_down'));
  });

  it('keeps the previous rules when the new file is bad, and takes a good one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rules-'));
    try {
      const path = join(dir, 'rules.yaml');
      await writeFile(path, 'rules:\n  - {id: a, name: A, metric: cpu_percent, warn: 50}\n');
      const s = new RulesStore(path);
      await s.load();
      await writeFile(path, 'rules:\n  - {id: a, name: A, metric: cpu_percent, warn: fifty}\n');
      const bad = await s.reload();
      assert.equal(bad.ok, false);
      assert.match(bad.ok ? '' : bad.error, /rules\.yaml:2:\d+: rules\[0\]\.warn/);
      const kept = s.current().rules[0];
      assert.equal(kept?.kind === 'threshold' ? kept.warn : null, 50);
      await writeFile(path, '{"rules": [{"id": "b", "name": "B", "metric": "cpu_percent", "warn": 60}, {"id": "c", "name": "C", "kind": "container_down"}]}');
      assert.deepEqual(await s.reload(), { ok: true, rules: 2 });
      assert.equal(s.current().rules[0]?.id, 'b');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing file on first load names the setting', async () => {
    await assert.rejects(new RulesStore('/nonexistent/rules.yaml').load(), (e: unknown) => e instanceof RulesError && /cannot read rules file \/nonexistent\/rules\.yaml: .*ENOENT.*ALERT_RULES_FILE/.test(e.message));
  });
});
