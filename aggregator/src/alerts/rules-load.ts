import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { rulesFileSchema, type RulesFile } from './rule-schema.js';

/** A rules file that cannot be used; the message names the file, line and field. */
export class RulesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RulesError';
  }
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/**
 * Parses and validates rules text. YAML 1.2 is a superset of JSON, so one
 * parser serves both and gives line numbers for either.
 */
export function parseRules(text: string, source: string): RulesFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const p = lc.linePos(offset);
    return `${source}:${p.line}:${p.col}`;
  };
  const yamlErr = doc.errors[0];
  if (yamlErr !== undefined) throw new RulesError(`${at(yamlErr.pos[0])}: ${yamlErr.message.split('\n')[0] ?? 'syntax error'}`);
  const result = rulesFileSchema.safeParse(doc.toJS());
  if (result.success) return result.data;
  const lines = result.error.issues.slice(0, 5).map((issue) => {
    // Walk up to the deepest node that exists (a missing field points at its parent).
    let node: unknown = undefined;
    for (let n = issue.path.length; n >= 0 && !isNode(node); n--) node = doc.getIn(issue.path.slice(0, n), true);
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    const field = issue.path.length === 0 ? '(top level)' : pathText(issue.path);
    return `${at(offset)}: ${field}: ${issue.message}`;
  });
  const more = result.error.issues.length > 5 ? ` (and ${result.error.issues.length - 5} more)` : '';
  throw new RulesError(`invalid rules file: ${lines.join('; ')}${more}`);
}

export async function readRulesFile(path: string): Promise<RulesFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RulesError(`cannot read rules file ${path}: ${err instanceof Error ? err.message : String(err)} (check ALERT_RULES_FILE)`);
  }
  return parseRules(text, path);
}
