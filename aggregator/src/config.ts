import { z } from 'zod';
import { absolutePath, ConfigError, fromFlagOrEnv, numberText, parseSetting, wholeNumber } from '../../shared/src/config.js';
import { logLevels } from '../../shared/src/log.js';
import { DEFAULT_MAX_SAMPLE_BYTES } from './ingest/sample.js';
import { DEFAULT_HTTP_LIMITS } from './http/limits.js';

/** Flags of `system-monitor-aggregator` (commander fills these). */
export interface AggregatorFlags {
  port?: string;
  host?: string;
  interval?: string;
  retention?: string;
  authTokensFile?: string;
  corsOrigins?: string;
  logLevel?: string;
  alertRules?: string;
  capacityBuffer?: string;
  maxSampleBytes?: string;
}

export interface AggregatorConfig {
  port: number;
  host: string;
  /** The agents' sampling interval, for staleness when a sample does not say its own. */
  intervalMs: number;
  /** Registry entries not seen for this long are pruned (default 24 h). */
  retentionMs: number;
  /** Full re-sync from Valkey every this often (the pub/sub channel keeps the view current between). */
  pollMs: number;
  authTokensFile: string | null;
  /** Allowed CORS origins; empty = CORS off. `*` allows any. */
  corsOrigins: string[];
  logLevel: (typeof logLevels)[number];
  /** Alert rules file (JSON or YAML); null = the shipped defaults. */
  alertRulesFile: string | null;
  /** Share of a container's limit the capacity check keeps free (default 0.2). */
  capacityBuffer: number;
  /** A value under system:metrics:* (or on the channel) larger than this is refused unread (default 256 KiB). */
  maxSampleBytes: number;
  /** Host names served besides loopback ones when no tokens are set (`*`: any). */
  allowedHosts: string[];
  /** Open HTTP connections in total and per remote address. */
  httpMaxConnections: number;
  httpMaxConnectionsPerAddress: number;
  /** Server-Sent Events clients in total and per remote address. */
  sseMaxClients: number;
  sseMaxClientsPerAddress: number;
}

export const DEFAULT_SSE_MAX_CLIENTS = 1000;
export const DEFAULT_SSE_MAX_CLIENTS_PER_ADDRESS = 32;

/** `name`, `name:port` or `[v6]`; `*` for any. */
const hostList = z
  .string()
  .transform((s) => s.split(',').map((h) => h.trim()).filter((h) => h !== ''))
  .pipe(z.array(z.string().regex(/^(\*|\[[0-9a-fA-F:.]+\](:\d+)?|[A-Za-z0-9._-]+(:\d+)?)$/, 'must be host names like monitor.example.com, comma-separated, or *')));

const hostSchema = z.string().trim().min(1, 'must not be empty');
/**
 * One origin as browsers send it in `Origin` (`http://localhost:3000`):
 * written with a trailing slash, upper-case host or default port it is
 * normalised, so it still matches; a path or query is refused (an origin
 * never has one, and such an entry would silently never match).
 */
const originEntry = z.string().transform((raw, ctx) => {
  if (raw === '*') return raw;
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return fail('must be origins like https://example.com, comma-separated, or *');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail('must be http:// or https:// origins');
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
    return fail('must be origins (scheme://host[:port]) without a path, query or user');
  }
  return u.origin;
});

const originList = z
  .string()
  .transform((s) => s.split(',').map((o) => o.trim()).filter((o) => o !== ''))
  .pipe(z.array(originEntry));

/** Resolves flags over env vars over defaults; throws ConfigError naming the bad setting. */
export function loadAggregatorConfig(flags: AggregatorFlags, env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const pick = (flag: string | undefined, flagName: string, envName: string) => fromFlagOrEnv(flag, flagName, env, envName);
  const portIn = pick(flags.port, '--port', 'PORT');
  const hostIn = pick(flags.host, '--host', 'HOST');
  const intervalIn = pick(flags.interval, '--interval', 'INTERVAL_SECONDS');
  const retentionIn = pick(flags.retention, '--retention', 'RETENTION_SECONDS');
  const tokensIn = pick(flags.authTokensFile, '--auth-tokens-file', 'AUTH_TOKENS_FILE');
  const corsIn = pick(flags.corsOrigins, '--cors-origins', 'CORS_ORIGINS');
  const levelIn = pick(flags.logLevel, '--log-level', 'LOG_LEVEL');
  const rulesIn = pick(flags.alertRules, '--alert-rules', 'ALERT_RULES_FILE');
  const bufferIn = pick(flags.capacityBuffer, '--capacity-buffer', 'CAPACITY_BUFFER');
  const maxSampleIn = pick(flags.maxSampleBytes, '--max-sample-bytes', 'MAX_SAMPLE_BYTES');
  const env1 = (name: string) => pick(undefined, name, name);
  const allowedHostsIn = env1('ALLOWED_HOSTS');
  const maxConnIn = env1('HTTP_MAX_CONNECTIONS');
  const maxConnAddrIn = env1('HTTP_MAX_CONNECTIONS_PER_ADDRESS');
  const sseMaxIn = env1('SSE_MAX_CLIENTS');
  const sseMaxAddrIn = env1('SSE_MAX_CLIENTS_PER_ADDRESS');
  const intervalS = intervalIn ? parseSetting(numberText(1, 3600), intervalIn.raw, intervalIn.label) : 5;
  const retentionS = retentionIn ? parseSetting(wholeNumber(60, 86_400 * 30), retentionIn.raw, retentionIn.label) : 86_400;
  if (tokensIn !== undefined && !tokensIn.raw.startsWith('/')) {
    throw new ConfigError(`${tokensIn.label}: must be an absolute path (got ${JSON.stringify(tokensIn.raw)})`);
  }
  const corsOrigins = corsIn ? parseSetting(originList, corsIn.raw, corsIn.label) : [];
  if (corsIn !== undefined && tokensIn === undefined && corsOrigins.includes('*')) {
    throw new ConfigError(
      `${corsIn.label}=* without tokens would let any web page read the fleet through its visitors' browsers: ` +
        'list the origins that may (CORS_ORIGINS=https://ui.example.com), or set AUTH_TOKENS_FILE so every request needs a token',
    );
  }
  const count = (input: { raw: string; label: string } | undefined, fallback: number) => (input ? parseSetting(wholeNumber(1, 1_000_000), input.raw, input.label) : fallback);
  return {
    port: portIn ? parseSetting(wholeNumber(0, 65535), portIn.raw, portIn.label) : 8080,
    host: hostIn ? parseSetting(hostSchema, hostIn.raw, hostIn.label) : '127.0.0.1',
    intervalMs: Math.round(intervalS * 1000),
    retentionMs: retentionS * 1000,
    pollMs: Math.round(intervalS * 1000),
    authTokensFile: tokensIn?.raw ?? null,
    corsOrigins,
    alertRulesFile: rulesIn ? parseSetting(absolutePath, rulesIn.raw, rulesIn.label) : null,
    capacityBuffer: bufferIn ? parseSetting(numberText(0, 0.95), bufferIn.raw, bufferIn.label) : 0.2,
    maxSampleBytes: maxSampleIn ? parseSetting(wholeNumber(16 * 1024, 64 * 1024 * 1024), maxSampleIn.raw, maxSampleIn.label) : DEFAULT_MAX_SAMPLE_BYTES,
    allowedHosts: allowedHostsIn ? parseSetting(hostList, allowedHostsIn.raw, allowedHostsIn.label) : [],
    httpMaxConnections: count(maxConnIn, DEFAULT_HTTP_LIMITS.maxConnections),
    httpMaxConnectionsPerAddress: count(maxConnAddrIn, DEFAULT_HTTP_LIMITS.maxConnectionsPerAddress),
    sseMaxClients: count(sseMaxIn, DEFAULT_SSE_MAX_CLIENTS),
    sseMaxClientsPerAddress: count(sseMaxAddrIn, DEFAULT_SSE_MAX_CLIENTS_PER_ADDRESS),
    logLevel: levelIn ? parseSetting(z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }), levelIn.raw.toLowerCase(), levelIn.label) : 'info',
  };
}
