import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { LogOnce } from '../../../shared/src/log-once.js';

/**
 * Request headers a browser may send to the API: `Content-Type` (SiriusScan's
 * UI sends `application/json` even on GET, which makes every request
 * preflighted), `Authorization` for tokens, `Last-Event-ID` and
 * `Cache-Control` from EventSource reconnects, `X-Requested-With` from older
 * client libraries.
 */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Last-Event-ID', 'Cache-Control', 'X-Requested-With'];
export const CORS_ALLOWED_METHODS = ['GET', 'HEAD', 'POST', 'OPTIONS'];
/** Browsers cache a preflight this long (Chromium caps it at 2 h). */
const PREFLIGHT_MAX_AGE_S = 600;
/** Distinct refused origins remembered for the log-once rule; beyond this, one more line says so. */
const MAX_REMEMBERED_ORIGINS = 100;

export type CorsVerdict = 'no-origin' | 'same-origin' | 'allowed' | 'refused';

/**
 * The aggregator's CORS policy: only the configured origins (or `*`) get
 * `Access-Control-Allow-*` headers. A browser origin that is refused is
 * logged once per origin, with the setting that would allow it, because the
 * browser shows the user nothing but an opaque network error.
 */
export class CorsPolicy {
  private readonly refused: LogOnce;

  constructor(
    private readonly origins: string[],
    private readonly log: Logger,
  ) {
    this.refused = new LogOnce(MAX_REMEMBERED_ORIGINS, () => {
      log.warn({ remembered: MAX_REMEMBERED_ORIGINS }, 'refused browser requests from more origins; not logging each one any more');
    });
  }

  /** Sets the response headers for `req` and says what it decided. */
  apply(req: IncomingMessage, res: ServerResponse): CorsVerdict {
    const origin = req.headers.origin;
    if (origin === undefined) return 'no-origin';
    res.setHeader('Vary', 'Origin');
    if (this.origins.includes('*') || this.origins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', this.origins.includes('*') ? '*' : origin);
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS.join(', '));
      res.setHeader('Access-Control-Allow-Methods', CORS_ALLOWED_METHODS.join(', '));
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
      return 'allowed';
    }
    if (isSameOrigin(origin, req.headers.host)) return 'same-origin';
    this.noteRefused(origin);
    return 'refused';
  }

  private noteRefused(origin: string): void {
    if (!this.refused.first(origin)) return;
    const shown = origin.slice(0, 200);
    const advice =
      this.origins.length === 0
        ? `CORS is off: set CORS_ORIGINS=${shown} (or --cors-origins) to let pages from that origin read the API`
        : `it is not in CORS_ORIGINS (${this.origins.join(',')}); add it there to let pages from that origin read the API`;
    this.log.warn({ origin: shown }, `refused a browser request from origin ${shown}: ${advice}`);
  }
}

/** A page served by this aggregator (its dashboard) sends its own origin on some requests: that is not cross-origin. */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
