#!/usr/bin/env node
// Finds every *.test.ts under the source folders and runs them with node:test
// through tsx. Node 20's --test does not expand globs, so we list files here.
// Usage: node scripts/run-tests.mjs [path-substring ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['agent', 'aggregator', 'shared', 'scripts', 'web'];
const skipDirs = new Set(['node_modules', 'fixtures', 'dist']);

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) {
      if (!skipDirs.has(name)) walk(full, out);
    } else if (name.endsWith('.test.ts')) {
      out.push(relative(process.cwd(), full));
    }
  }
  return out;
}

const filters = process.argv.slice(2);
const files = roots
  .flatMap((r) => walk(r, []))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no test files matched ${filters.join(' ') || '(all)'}\n`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
