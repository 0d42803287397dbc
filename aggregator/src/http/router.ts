import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Principal } from './auth.js';

/** An error a handler throws to answer `status` with `{"error": message}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** The token's holder; null when no tokens are configured. */
  who: Principal | null;
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

export type Method = 'GET' | 'POST';

export interface Route {
  method: Method;
  pattern: RegExp;
  keys: string[];
  /** `open`: no token needed; `query-token`: `?token=` accepted too; `admin`: a bearer token with the admin role (refused when no tokens are configured). */
  auth: 'open' | 'bearer' | 'query-token' | 'admin';
  handler: Handler;
}

function compile(method: Method, path: string, auth: Route['auth'], handler: Handler): Route {
  const keys: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/:([a-z]+)/g, (_m, k: string) => {
      keys.push(k);
      return '([^/]+)';
    })}$`,
  );
  return { method, pattern, keys, auth, handler };
}

/** A GET route (HEAD is answered by the same handler). `:name` segments become `params.name`. */
export function route(path: string, auth: Route['auth'], handler: Handler): Route {
  return compile('GET', path, auth, handler);
}

export function postRoute(path: string, auth: Route['auth'], handler: Handler): Route {
  return compile('POST', path, auth, handler);
}

export function sendRawJson(res: ServerResponse, status: number, text: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendRawJson(res, status, JSON.stringify(body));
}

/** Validates query parameters with a zod schema; the first problem becomes a 400 naming the parameter. */
export function query<T extends z.ZodType>(url: URL, schema: T): z.output<T> {
  const obj: Record<string, string> = {};
  for (const [k, v] of url.searchParams) obj[k] = v;
  const r = schema.safeParse(obj);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  const where = i !== undefined && i.path.length > 0 ? `query parameter ${i.path.join('.')}` : 'query';
  throw new HttpError(400, `bad ${where}: ${i?.message ?? 'invalid'}`);
}

export const noQuery = z.strictObject({});

/**
 * The request body as JSON, read up to `maxBytes` (413 beyond: the rest is
 * not read into memory) and validated with `schema` (400 naming the field).
 */
export async function jsonBody<T extends z.ZodType>(req: IncomingMessage, schema: T, maxBytes = 16 * 1024): Promise<z.output<T>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new HttpError(415, `the body must be JSON (Content-Type: application/json), not "${type.slice(0, 100)}"`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new HttpError(413, `the body is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > maxBytes) throw new HttpError(413, `the body is larger than ${maxBytes} bytes`);
    chunks.push(b);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
  const r = schema.safeParse(parsed);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  const where = i !== undefined && i.path.length > 0 ? `body field ${i.path.join('.')}` : 'body';
  throw new HttpError(400, `bad ${where}: ${i?.message ?? 'invalid'}`);
}
