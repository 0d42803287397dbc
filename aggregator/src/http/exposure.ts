import { isIP } from 'node:net';

/** Host names a loopback-only aggregator answers to (with any port). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** The host name of a `Host` header, lower-case and without its port (`[::1]:8080` → `[::1]`). */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/**
 * Which `Host` headers are served. Without tokens only loopback names (and
 * ALLOWED_HOSTS) are, so a web page whose own name an attacker points at
 * 127.0.0.1 (DNS rebinding) cannot read the fleet through the victim's
 * browser. With tokens, every host is served unless ALLOWED_HOSTS is set.
 */
export class HostPolicy {
  private readonly allowed: Set<string> | null;

  constructor(
    tokensSet: boolean,
    private readonly extra: string[],
  ) {
    if (extra.includes('*')) this.allowed = null;
    else if (tokensSet && extra.length === 0) this.allowed = null;
    else this.allowed = new Set([...LOOPBACK_NAMES, ...extra.map((h) => hostName(h))]);
  }

  /** Null when `header` is served, else the reason (for a 421 answer). */
  refusal(header: string | undefined): string | null {
    if (this.allowed === null) return null;
    const name = header === undefined ? '' : hostName(header);
    if (this.allowed.has(name)) return null;
    const shown = JSON.stringify((header ?? '(none)').slice(0, 200));
    const extra = this.extra.length > 0 ? ` and ALLOWED_HOSTS (${this.extra.join(',')})` : '';
    return (
      `Host ${shown} is not served: this aggregator answers only loopback names (localhost, 127.0.0.1, [::1])${extra}, against DNS rebinding. ` +
      'To serve other names, set AUTH_TOKENS_FILE (bearer tokens), or list the names clients use in ALLOWED_HOSTS (comma-separated, * for any)'
    );
  }
}

/** Loopback listen addresses: 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

/** The warning for an aggregator that listens beyond loopback with no tokens, or null. */
export function exposureWarning(listenHost: string, tokensSet: boolean): string | null {
  if (tokensSet || isLoopbackAddress(listenHost)) return null;
  return (
    `listening on ${listenHost} without tokens: anyone who reaches this port can read the fleet ` +
    '(requests are refused unless their Host header is a loopback name or in ALLOWED_HOSTS). ' +
    'Set AUTH_TOKENS_FILE to require bearer tokens'
  );
}
