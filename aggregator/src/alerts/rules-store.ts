import type { Logger } from '../../../shared/src/log.js';
import { defaultRules } from './default-rules.js';
import type { RulesFile } from './rule-schema.js';
import { readRulesFile } from './rules-load.js';

export type ReloadResult = { ok: true; rules: number } | { ok: false; error: string };

/**
 * The rules in use. Without a file the shipped defaults apply. A reload
 * (SIGHUP or the reload route) that finds a bad file keeps the previous rules
 * and reports why.
 */
export class RulesStore {
  private rules: RulesFile;

  constructor(private readonly path: string | null, private readonly log?: Logger) {
    this.rules = defaultRules();
  }

  /** First load: a bad file is fatal here (the service must not start on rules it cannot read). */
  async load(): Promise<RulesFile> {
    if (this.path !== null) this.rules = await readRulesFile(this.path);
    return this.rules;
  }

  async reload(): Promise<ReloadResult> {
    if (this.path === null) return { ok: true, rules: this.rules.rules.length };
    try {
      this.rules = await readRulesFile(this.path);
      this.log?.info({ path: this.path, rules: this.rules.rules.length }, 'alert rules reloaded');
      return { ok: true, rules: this.rules.rules.length };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.log?.error({ path: this.path, err: error }, 'alert rules not reloaded; keeping the previous rules');
      return { ok: false, error };
    }
  }

  current(): RulesFile {
    return this.rules;
  }
}
