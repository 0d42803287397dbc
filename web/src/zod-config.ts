import { z } from 'zod';

/**
 * Imported first by main.ts, before any schema is built: zod probes
 * `new Function` while constructing object schemas, and the page's CSP
 * (no 'unsafe-eval') would refuse and report that probe as a violation.
 * Jitless zod never tries.
 */
z.config({ jitless: true });
