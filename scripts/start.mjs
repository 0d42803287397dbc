#!/usr/bin/env node
// `npm start` (see scripts/start.ts). Plain JavaScript because it runs before
// node_modules exists: installs the dependencies on a fresh checkout, then
// loads the TypeScript through tsx's API in this same process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(repo, 'node_modules', 'tsx', 'package.json'))) {
  const cmd = existsSync(join(repo, 'package-lock.json')) ? 'ci' : 'install';
  process.stdout.write(`node_modules is missing: running npm ${cmd} (first start only)\n`);
  const r = spawnSync('npm', [cmd, '--no-audit', '--no-fund'], { cwd: repo, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`start: npm ${cmd} failed (${r.error?.message ?? `exit ${r.status}`}); fix that and run npm start again\n`);
    process.exit(1);
  }
}
const { register } = await import('tsx/esm/api');
register();
const { startCli } = await import('./start.ts');
process.exitCode = await startCli(process.argv.slice(2));
