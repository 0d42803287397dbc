import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../../shared/src/config.js';

export const roleSchema = z.enum(['viewer', 'admin']);
export type Role = z.infer<typeof roleSchema>;

export const tokensFileSchema = z.object({
  tokens: z
    .array(
      z.object({
        name: z.string().min(1).optional(),
        token: z.string().min(16, 'tokens must be at least 16 characters'),
        role: roleSchema,
      }),
    )
    .min(1, 'must list at least one token'),
});

/** Who a token is: its role, and its name (for "created by"; an unnamed token gets a hash of itself, never the token). */
export interface Principal {
  role: Role;
  name: string;
}

/** token → who it is. */
export type TokenTable = Map<string, Principal>;

/** Reads and validates the tokens file; a bad file is a ConfigError naming the file and the field. */
export function loadTokens(file: string): TokenTable {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--auth-tokens-file ${file}: cannot read it (${err instanceof Error ? err.message : String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`--auth-tokens-file ${file}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const r = tokensFileSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ConfigError(`--auth-tokens-file ${file}: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'}; expected {"tokens":[{"token":"...","role":"viewer|admin"}]}`);
  }
  return new Map(r.data.tokens.map((t) => [t.token, { role: t.role, name: t.name ?? `token#${createHash('sha256').update(t.token).digest('hex').slice(0, 8)}` }]));
}

/** The role a request carries: `Authorization: Bearer <t>`, or `?token=` (EventSource cannot set headers). */
export function roleOf(tokens: TokenTable, authorization: string | undefined, queryToken: string | null): Role | null {
  return principalOf(tokens, authorization, queryToken)?.role ?? null;
}

export function principalOf(tokens: TokenTable, authorization: string | undefined, queryToken: string | null): Principal | null {
  const m = authorization === undefined ? null : /^Bearer\s+(\S+)$/i.exec(authorization);
  const t = m?.[1] ?? queryToken;
  return t === null ? null : (tokens.get(t) ?? null);
}
