import { z } from 'zod';

/**
 * Env + flag helpers: every setting is validated at the boundary and a bad
 * value produces one line naming the setting, what was given and what is
 * expected.
 */

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates one setting. `label` names where it came from (`--interval` or
 * `INTERVAL_SECONDS`) so the message tells the user what to fix.
 */
export function parseSetting<T extends z.ZodType>(schema: T, raw: unknown, label: string): z.output<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const shown = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
  throw new ConfigError(`${label}: ${issue?.message ?? 'invalid value'} (got ${shown})`);
}

/** First defined of a CLI flag value and an environment variable, with the label for errors. */
export function fromFlagOrEnv(
  flag: string | undefined,
  flagName: string,
  env: NodeJS.ProcessEnv,
  envName: string,
): { raw: string; label: string } | undefined {
  if (flag !== undefined) return { raw: flag, label: flagName };
  const v = env[envName];
  if (v !== undefined && v !== '') return { raw: v, label: envName };
  return undefined;
}

/** A number given as text, within bounds. */
export function numberText(min: number, max: number): z.ZodType<number, string> {
  return z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `must be a number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

/** An absolute filesystem path. */
export const absolutePath = z.string().trim().startsWith('/', 'must be an absolute path');

/** A whole number given as text, within bounds. */
export function wholeNumber(min: number, max: number): z.ZodType<number, string> {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}
