import type { z } from 'zod';

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A response as `schema`: 401 → AuthError, another error → ApiError with the server's message, a bad shape → ApiError 0. */
async function answer<T extends z.ZodType>(path: string, r: Response, schema: T): Promise<z.output<T>> {
  if (r.status === 401) throw new AuthError('the aggregator wants a token');
  const body: unknown = await r.json().catch(() => null);
  if (!r.ok) {
    const msg = typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : `HTTP ${r.status}`;
    throw new ApiError(r.status, `${path}: ${msg}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ApiError(0, `${path}: unexpected answer (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return parsed.data;
}

/**
 * REST client for the aggregator on this origin: the token (if any) goes as
 * a bearer header; the events URL carries it as ?token= because EventSource
 * cannot set headers.
 */
export class Api {
  constructor(private readonly token: () => string | null) {}

  async get<T extends z.ZodType>(path: string, schema: T): Promise<z.output<T>> {
    const t = this.token();
    const r = await fetch(path, { headers: t === null ? {} : { Authorization: `Bearer ${t}` }, cache: 'no-store' });
    return answer(path, r, schema);
  }

  /** POSTs `body` as JSON; answers like `get` (401 → AuthError, other errors → ApiError with the server's message). */
  async post<T extends z.ZodType>(path: string, body: unknown, schema: T): Promise<z.output<T>> {
    const t = this.token();
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (t !== null) headers.Authorization = `Bearer ${t}`;
    const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store' });
    return answer(path, r, schema);
  }

  eventsUrl(lastEventId: string | null): string {
    const q = new URLSearchParams();
    const t = this.token();
    if (t !== null) q.set('token', t);
    if (lastEventId !== null) q.set('lastEventId', lastEventId);
    const s = q.toString();
    return `/api/v1/events${s === '' ? '' : `?${s}`}`;
  }
}
