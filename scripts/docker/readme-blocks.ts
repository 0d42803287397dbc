/**
 * The README's fenced code blocks, by section, so the engine tests run the
 * commands and Dockerfile lines a user copies from it rather than a test's
 * own paraphrase of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const README = join(import.meta.dirname, '../../README.md');

export interface ReadmeBlock {
  /** The info string after the opening fence (`sh`, `dockerfile`, or ''). */
  lang: string;
  /** The block's lines, as written. */
  lines: string[];
}

/** Markdown heading level and title of a line, or null for other lines. */
function heading(line: string): { level: number; title: string } | null {
  const m = /^(#{1,6})\s+(.*)$/.exec(line);
  return m?.[1] === undefined || m[2] === undefined ? null : { level: m[1].length, title: m[2].trim() };
}

/** Parses the blocks of the section titled `title` (up to the next heading of the same or a higher level). */
export function sectionBlocks(markdown: string, title: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => heading(l)?.title === title);
  const level = start < 0 ? undefined : heading(lines[start] ?? '')?.level;
  if (level === undefined) throw new Error(`README.md has no section titled "${title}": the Docker tests follow its commands; restore the section or update the test`);
  const blocks: ReadmeBlock[] = [];
  let open: ReadmeBlock | null = null;
  for (const line of lines.slice(start + 1)) {
    if (open !== null) {
      if (line.startsWith('```')) {
        blocks.push(open);
        open = null;
      } else open.lines.push(line);
      continue;
    }
    const h = heading(line);
    if (h !== null && h.level <= level) break;
    if (line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] };
  }
  if (open !== null) throw new Error(`README.md, section "${title}": a code block is not closed`);
  return blocks;
}

/** The blocks of a README section, read from the repository's README.md. */
export function readmeBlocks(title: string): ReadmeBlock[] {
  return sectionBlocks(readFileSync(README, 'utf8'), title);
}

/** The one line of the section's blocks that starts with `prefix` (shell comments after `#` removed). */
export function readmeLine(title: string, prefix: string): string {
  const found = readmeBlocks(title)
    .flatMap((b) => b.lines)
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith(prefix));
  if (found.length !== 1) throw new Error(`README.md, section "${title}": expected one command starting "${prefix}", found ${String(found.length)}`);
  return found[0] ?? '';
}
