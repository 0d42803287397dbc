import { z } from 'zod';
import { webhookUrlProblem } from './webhook-url.js';

/**
 * The alert rules file (JSON or YAML). Every field is validated here; the
 * loader maps a failing path back to its line in the file.
 */

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "1m", "2h", "500ms" or a number of seconds → milliseconds. */
export const durationSchema = z
  .union([
    z.number().nonnegative('must be 0 or more seconds'),
    z.string().trim().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'must be a duration such as 30s, 1m, 2h or 500ms'),
  ])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v);
    return m === null ? 0 : Math.round(Number(m[1]) * (units[m[2] ?? 's'] ?? 1000));
  });

import { severitySchema, type Severity } from '../../../shared/src/api.js';

export { severitySchema, type Severity };

/** A payload path: dotted names, with `[]` after an array (one instance per element, GPUs by uuid). */
export const metricPathSchema = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*(\[\])?(\.[a-z_][a-z0-9_]*(\[\])?)*$/, 'must be a payload path such as memory_percent, cpu.throttled_percent or gpus[].temperature_c');

const notifySchema = z
  .object({
    webhooks: z
      .array(
        z
          .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
          .superRefine((v, ctx) => {
            const problem = webhookUrlProblem(v);
            if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
          }),
      )
      .default([]),
    repeat_interval: durationSchema.default(4 * 3_600_000),
    send_resolved: z.boolean().default(true),
  })
  .strict();

const base = {
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'must be lower-case letters, digits, _ . - (used in keys and URLs)'),
  name: z.string().min(1),
  match: z.array(z.string().min(1)).min(1).optional(),
  for: durationSchema.default(0),
  keep_firing_for: durationSchema.default(0),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  notify: notifySchema.optional(),
};

export const thresholdRuleSchema = z
  .object({
    ...base,
    kind: z.literal('threshold'),
    metric: metricPathSchema,
    comparator: z.enum(['>', '>=', '<', '<=']).default('>'),
    warn: z.number().optional(),
    crit: z.number().optional(),
    /** Hysteresis: a firing level clears only past this value (Netdata-style). */
    clear: z.object({ warn: z.number().optional(), crit: z.number().optional() }).strict().default({}),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.warn === undefined && r.crit === undefined) ctx.addIssue({ code: 'custom', path: ['warn'], message: 'a threshold rule needs warn and/or crit' });
    const above = r.comparator === '>' || r.comparator === '>=';
    const wrong = (a: number, b: number): boolean => (above ? a > b : a < b);
    if (r.warn !== undefined && r.crit !== undefined && wrong(r.warn, r.crit)) {
      ctx.addIssue({ code: 'custom', path: ['crit'], message: `crit must be ${above ? 'at or above' : 'at or below'} warn for comparator ${r.comparator}` });
    }
    for (const lvl of ['warn', 'crit'] as const) {
      const c = r.clear[lvl];
      const t = r[lvl];
      if (c === undefined) continue;
      if (t === undefined) ctx.addIssue({ code: 'custom', path: ['clear', lvl], message: `clear.${lvl} given without ${lvl}` });
      else if (wrong(c, t)) ctx.addIssue({ code: 'custom', path: ['clear', lvl], message: `clear.${lvl} must be on the ${above ? 'lower' : 'upper'} side of ${lvl} (hysteresis)` });
    }
  });

/** Fires at once when a counter goes up (`increase`) or a gauge goes down (`decrease`, e.g. uptime after a restart). */
export const changeRuleSchema = z
  .object({
    ...base,
    kind: z.enum(['increase', 'decrease']),
    metric: metricPathSchema,
    severity: severitySchema.default('critical'),
  })
  .strict();

/** The built-in staleness rule: warning after `stale_intervals`, critical after `critical_intervals`. */
export const downRuleSchema = z
  .object({
    ...base,
    kind: z.literal('container_down'),
    stale_intervals: z.number().positive().default(3),
    critical_intervals: z.number().positive().default(10),
  })
  .strict()
  .refine((r) => r.critical_intervals >= r.stale_intervals, { path: ['critical_intervals'], message: 'must be at least stale_intervals' });

/** `kind` may be left out for threshold rules (the common case). */
export const ruleSchema = z.preprocess(
  (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) && !('kind' in v) ? { ...v, kind: 'threshold' } : v),
  z.discriminatedUnion('kind', [thresholdRuleSchema, changeRuleSchema, downRuleSchema], {
    error: 'kind must be threshold, increase, decrease or container_down',
  }),
);

export const rulesFileSchema = z
  .object({
    /** Applied to rules that have no `notify` of their own. */
    notify: notifySchema.optional(),
    rules: z.array(ruleSchema),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Map<string, number>();
    f.rules.forEach((r, i) => {
      const prev = seen.get(r.id);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate id "${r.id}" (first used by rules[${prev}])` });
      seen.set(r.id, i);
    });
  });

export type ThresholdRule = z.output<typeof thresholdRuleSchema>;
export type ChangeRule = z.output<typeof changeRuleSchema>;
export type DownRule = z.output<typeof downRuleSchema>;
export type Rule = z.output<typeof ruleSchema>;
export type NotifySettings = z.output<typeof notifySchema>;
export type RulesFile = z.output<typeof rulesFileSchema>;
