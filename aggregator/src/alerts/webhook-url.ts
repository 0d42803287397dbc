import { createHash } from 'node:crypto';

/**
 * Webhook URLs carry secrets: `user:password@`, a token in the path
 * (`/hooks/T0/B0/XXXX`) or the query (`?token=`). Nothing the aggregator logs
 * or reports may contain them, so a URL is only ever shown redacted:
 * `scheme://host[:port]` plus a short fingerprint of the rest, enough to tell
 * two webhooks on one host apart and to match a log line to a rules file entry
 * (hash the path and query yourself to compare), but not to recover the secret.
 *
 * Userinfo is not sent in the URL (fetch refuses such URLs): it becomes an
 * `Authorization: Basic` header, as curl does with `http://user:pass@host/`.
 */

export interface WebhookTarget {
  /** The URL to POST to, without userinfo. */
  url: string;
  /** `Basic …` from the URL's userinfo, or null when it had none. */
  authorization: string | null;
  /** How the URL appears in logs and errors. */
  redacted: string;
}

/** A webhook URL that can never be delivered to; the message holds only the redacted form. */
export class WebhookUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookUrlError';
  }
}

function fingerprint(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** `https://hooks.example.com:8443/…#1a2b3c4d`: scheme, host and port, and a fingerprint of path and query. */
export function redactUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `(unparseable URL #${fingerprint(raw)})`;
  }
  const user = u.username !== '' ? '…@' : '';
  const rest = `${u.pathname}${u.search}${u.hash}`;
  const tail = rest === '/' || rest === '' ? '' : `/…#${fingerprint(rest)}`;
  return `${u.protocol}//${user}${u.host}${tail}`;
}

/** The host (and port) of a `Location` header, resolved against the request URL; never its path or query. */
export function locationHost(location: string | null, base: string): string {
  if (location === null || location.trim() === '') return 'no Location header';
  try {
    const u = new URL(location, base);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'an unparseable Location';
  }
}

/** Removes every secret part of `raw` (the whole URL, userinfo, path, query) from a message. */
export function scrubUrl(message: string, raw: string): string {
  const parts = new Set<string>([raw]);
  try {
    const u = new URL(raw);
    parts.add(u.href);
    for (const p of [u.username, u.password, u.search, u.hash, u.pathname.length > 1 ? u.pathname : '']) {
      if (p === '') continue;
      parts.add(p);
      try {
        parts.add(decodeURIComponent(p));
      } catch {
        // Not percent-decodable: the raw form is already in the set.
      }
    }
  } catch {
    // Unparseable: only the raw text can be scrubbed.
  }
  let out = message;
  for (const p of [...parts].sort((a, b) => b.length - a.length)) {
    if (p.length >= 2) out = out.split(p).join('…');
  }
  return out;
}

/** Parses a webhook URL for delivery; throws WebhookUrlError (redacted) when it can never work. */
export function webhookTarget(raw: string): WebhookTarget {
  const redacted = redactUrl(raw);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new WebhookUrlError(`webhook URL ${redacted} is not a URL (expected http(s)://host[:port]/path)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new WebhookUrlError(`webhook URL ${redacted}: scheme must be http:// or https://`);
  }
  let authorization: string | null = null;
  if (u.username !== '' || u.password !== '') {
    let user: string;
    let pass: string;
    try {
      user = decodeURIComponent(u.username);
      pass = decodeURIComponent(u.password);
    } catch {
      throw new WebhookUrlError(`webhook URL ${redacted}: the user or password is not valid percent-encoding (encode ':' '@' '/' '%' in them)`);
    }
    if (user.includes(':')) throw new WebhookUrlError(`webhook URL ${redacted}: the user name may not contain ':' (Basic authentication)`);
    authorization = `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  return { url: u.href, authorization, redacted };
}

/** For the rules schema: null when the URL is usable, else why not (without the URL). */
export function webhookUrlProblem(raw: string): string | null {
  try {
    webhookTarget(raw);
    return null;
  } catch (err) {
    return err instanceof WebhookUrlError ? err.message : 'not a usable webhook URL';
  }
}
