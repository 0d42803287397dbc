#!/usr/bin/env node
// Finds every *.test.ts under the source folders and runs them with node:test
// through tsx. Node 20's --test does not expand globs, so we list files here.
// Usage: node scripts/run-tests.mjs [path-substring ...]
//
// With no filter, the files in VALKEY_FILES then run a second time against
// Valkey (REDIS_SERVER_BIN set to valkey-server): the store's ACLs, cluster,
// sharded pub/sub, failover, publishing and hostile values on the server
// users are told to run, not only on Redis 7.0. Debian 12 has Valkey only in
// bookworm-backports, where the server binary comes in valkey-tools (named
// valkey-check-rdb; the valkey-server package adds the link and a system
// service). `.ci/run` installs it.
import { existsSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const VALKEY_FILES = [
  'aggregator/test/least-privilege.test.ts',
  'shared/src/valkey-batch.test.ts',
  'agent/test/host-publisher.test.ts',
  'agent/test/publish.test.ts',
  'aggregator/test/hostile-values.test.ts',
  'aggregator/test/cluster-failover.test.ts',
];

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
function run(list, env = process.env) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...list], { stdio: 'inherit', env }).status ?? 1;
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** valkey-server, or the same binary under that name when only valkey-tools is installed. */
function valkeyServer() {
  const direct = onPath('valkey-server');
  if (direct !== null) return direct;
  const tools = onPath('valkey-check-rdb');
  if (tools === null) return null;
  // One multi-call binary: it acts as the server when called valkey-server, as the package's link does.
  const link = join(mkdtempSync(join(tmpdir(), 'sm-valkey-')), 'valkey-server');
  symlinkSync(tools, link);
  return link;
}

let status = run(files);
if (filters.length === 0) {
  const bin = valkeyServer();
  if (bin === null) {
    process.stderr.write(
      'valkey-server not found: the Valkey pass needs it. On Debian 12: apt-get install -t bookworm-backports valkey-tools (add bookworm-backports to the apt sources first; .ci/run does both)\n',
    );
    status = 1;
  } else {
    const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
    process.stdout.write(`\n# the same store tests against Valkey: ${version}\n`);
    const missing = VALKEY_FILES.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      process.stderr.write(`VALKEY_FILES names files that do not exist: ${missing.join(', ')}\n`);
      status = 1;
    } else if (run(VALKEY_FILES, { ...process.env, REDIS_SERVER_BIN: bin }) !== 0) status = 1;
  }
}
process.exit(status);
