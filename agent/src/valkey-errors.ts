import type { ValkeyConfig } from '../../shared/src/valkey.js';

/** What went wrong talking to Valkey, coarse enough to log once per change. */
export type ValkeyErrorKind = 'auth' | 'tls' | 'unreachable' | 'timeout' | 'closed' | 'command';

export interface ValkeyProblem {
  kind: ValkeyErrorKind;
  /** One line for logs and `agent.publish.last_error`: what failed and which setting to check. */
  message: string;
}

const AUTH = /WRONGPASS|NOAUTH|invalid password|invalid username-password|AUTH .*without any password|NOPERM/i;
const TLS = /SSL|TLS|wrong version number|certificate|EPROTO|self[- ]signed|handshake/i;
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/;
const TIMEOUT = /ETIMEDOUT|timed out/i;
const RESET = /ECONNRESET|EPIPE|socket hang up/i;
/** A cluster between a master's failure and its replica's promotion, or with no node answering. */
const CLUSTER_DOWN = /CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available/i;
/** Our own write raced a connection that is being replaced: nothing to hint at. */
const CLOSED = /Connection is closed|Stream isn't writeable/i;

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/**
 * Turns an ioredis error into a message that names the setting to check.
 * A TLS mismatch rarely says so: a TLS client against a plain server just
 * times out, a plain client against a TLS server sees the connection reset,
 * so the hint depends on what the configuration asked for.
 */
export function classifyValkeyError(err: unknown, cfg: ValkeyConfig): ValkeyProblem {
  const text = errorText(err);
  const where =
    cfg.cluster !== null ? `cluster ${cfg.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}` : cfg.sentinel === null ? `${cfg.host}:${cfg.port}` : `sentinel group ${cfg.sentinel.name}`;
  const tlsSetting = cfg.source === 'VALKEY_URL' ? 'the rediss:// scheme of VALKEY_URL' : 'VALKEY_TLS';
  if (AUTH.test(text)) {
    return { kind: 'auth', message: `Valkey at ${where} rejected the credentials (${text}); check ${cfg.passwordSetting}` };
  }
  if (TLS.test(text)) {
    return { kind: 'tls', message: `TLS with Valkey at ${where} failed (${text}); check ${tlsSetting} and the server's TLS setup` };
  }
  if (UNREACHABLE.test(text)) {
    return { kind: 'unreachable', message: `Valkey at ${where} is unreachable (${text}); check ${cfg.source} and that the server runs` };
  }
  if (CLUSTER_DOWN.test(text)) {
    return { kind: 'unreachable', message: `Valkey ${where} cannot serve every slot now (${text}); a failover may be under way, check that each master or its replica runs` };
  }
  if (TIMEOUT.test(text)) {
    const hint = cfg.tls
      ? `; TLS is on (${tlsSetting}): a server without TLS never answers the handshake`
      : '; the server may be overloaded or stopped';
    return { kind: 'timeout', message: `Valkey at ${where} did not answer in time (${text})${hint}` };
  }
  if (CLOSED.test(text)) {
    return { kind: 'closed', message: `Valkey at ${where}: connection not open (${text}); reconnecting` };
  }
  if (RESET.test(text)) {
    const hint = cfg.tls ? '' : `; if the server requires TLS, set ${tlsSetting === 'VALKEY_TLS' ? 'VALKEY_TLS=true' : 'a rediss:// VALKEY_URL'}`;
    return { kind: 'closed', message: `Valkey at ${where} closed the connection (${text})${hint}` };
  }
  return { kind: 'command', message: `Valkey at ${where}: ${text}` };
}

/** Auth and TLS errors do not heal by themselves: retry slowly. Others: come back fast. */
export function reconnectDelayMs(attempt: number, kind: ValkeyErrorKind | null, random: () => number = Math.random): number {
  const cap = kind === 'auth' || kind === 'tls' ? 30_000 : 2_000;
  const base = Math.min(cap, 100 * 2 ** Math.min(attempt, 12));
  // Full jitter in the upper half, so many agents restarted together spread out.
  return Math.round(base * (0.5 + random() * 0.5));
}

/** Problems that pass by themselves (the server away, slow, or the connection closed): logged when their kind changes, not each time. */
export function isTransient(kind: ValkeyErrorKind): boolean {
  return kind === 'unreachable' || kind === 'timeout' || kind === 'closed';
}

/** Waits for `p`, but no longer than `ms` (a first connection attempt before the first write). */
export async function settledWithin(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([p, deadline]);
  clearTimeout(timer);
}
