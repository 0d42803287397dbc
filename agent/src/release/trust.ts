import { lstatSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

export type FileFacts = Pick<Stats, 'uid' | 'mode'> & { symlink: boolean; regular: boolean; directory: boolean };

const S_IWGRP = 0o020;
const S_IWOTH = 0o002;

/**
 * Why a file may not be trusted to hold code this process runs, or null. It
 * must be what it says (no symlink: the link's target could be anywhere),
 * owned by root or by this process's user, and writable by nobody else;
 * `kind` names the file in the message.
 */
export function trustProblem(facts: FileFacts, euid: number, kind: 'file' | 'directory'): string | null {
  if (facts.symlink) return 'it is a symbolic link';
  if (kind === 'file' && !facts.regular) return 'it is not a regular file';
  if (kind === 'directory' && !facts.directory) return 'it is not a directory';
  if (facts.uid !== 0 && facts.uid !== euid) return `it is owned by uid ${facts.uid}, neither root nor this process's user (${euid})`;
  if ((facts.mode & (S_IWGRP | S_IWOTH)) !== 0) return `it is writable by ${(facts.mode & S_IWOTH) !== 0 ? 'everyone' : 'its group'} (mode ${(facts.mode & 0o7777).toString(8)})`;
  return null;
}

function factsOf(path: string): FileFacts {
  const st = lstatSync(path);
  return { uid: st.uid, mode: st.mode, symlink: st.isSymbolicLink(), regular: st.isFile(), directory: st.isDirectory() };
}

/**
 * Checks a file of native code and every directory above it up to `top`
 * (whoever can write a directory can replace what is in it), and throws an
 * error naming the first one that fails, with what to do.
 */
export function assertTrustedCode(file: string, top: string, euid: number = process.geteuid?.() ?? 0): void {
  const chain: [string, 'file' | 'directory'][] = [[file, 'file']];
  for (let dir = dirname(file); dir.startsWith(top) && dir !== dirname(dir); dir = dirname(dir)) {
    chain.push([dir, 'directory']);
    if (dir === top) break;
  }
  for (const [path, kind] of chain) {
    let problem: string | null;
    try {
      problem = trustProblem(factsOf(path), euid, kind);
    } catch (err) {
      problem = `it cannot be read (${err instanceof Error ? err.message : String(err)})`;
    }
    if (problem !== null) {
      throw new Error(`refusing to load native code from ${file}: ${path} is not trusted because ${problem}; install the release as root (or as the agent's user) with no group or world write permission`);
    }
  }
}
