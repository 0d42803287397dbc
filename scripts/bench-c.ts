import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Builds the benchmarks' C peer `scripts/<name>.c` into `.bench/<name>` when missing or older than its source; throws naming `cc` when it cannot. */
export function benchBinary(repo: string, name: string): string {
  const src = join(repo, `scripts/${name}.c`);
  const bin = join(repo, `.bench/${name}`);
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(join(repo, '.bench'), { recursive: true });
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, src], { encoding: 'utf8' });
  if (cc.error !== undefined || cc.status !== 0) throw new Error(`building scripts/${name}.c needs a C compiler (cc: ${cc.error?.message ?? cc.stderr}); install gcc`);
  return bin;
}
