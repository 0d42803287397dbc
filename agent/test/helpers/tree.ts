import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A throw-away directory tree for collector tests: `files` maps relative
 * paths to contents. Returns the root; call `remove()` when done.
 */
export interface TempTree {
  root: string;
  path(rel: string): string;
  write(rel: string, content: string): void;
  remove(): void;
}

export function makeTree(files: Record<string, string> = {}): TempTree {
  const root = mkdtempSync(join(tmpdir(), 'sm-tree-'));
  const tree: TempTree = {
    root,
    path: (rel) => join(root, rel),
    write(rel, content) {
      const p = join(root, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    },
    remove: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
  for (const [rel, content] of Object.entries(files)) tree.write(rel, content);
  return tree;
}
