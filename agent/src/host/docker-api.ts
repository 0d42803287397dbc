import type * as Http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import {
  containerListSchema,
  engineEventSchema,
  engineInfoSchema,
  inspectSchema,
  WATCHED_ACTIONS,
  type EngineEvent,
  type EngineInfo,
  type InspectedContainer,
  type ListedContainer,
} from './docker-schemas.js';
import { LineSplitter } from './line-splitter.js';

/**
 * node:http, loaded on first use: the release's start-up snapshot
 * (scripts/build.mjs) evaluates every module at build time, and the http
 * module cannot be in a snapshot (V8 fails on its handles); the sidecar
 * never needs it.
 */
let http: typeof Http | null = null;
function httpModule(): typeof Http {
  // Not import(): the single executable has no dynamic import callback.
  http ??= process.getBuiltinModule('node:http');
  return http;
}

/** The Engine API's default socket. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** Answers larger than this are refused (a list of many thousand containers is far below it). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** One event is a few hundred bytes; a longer line is not an event. */
const MAX_EVENT_LINE = 256 * 1024;

export class DockerApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DockerApiError';
  }
}

/**
 * The socket path of `DOCKER_HOST` when it names a Unix socket, else null
 * (tcp:// and ssh:// are not read: the host agent talks to the local engine).
 */
export function socketFromDockerHost(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  if (value.startsWith('unix://')) return value.slice('unix://'.length);
  throw new DockerApiError(`DOCKER_HOST=${value}: only unix:// sockets are supported (the host agent reads the local engine)`, null);
}

/**
 * A small Engine API client over the Unix socket with node:http: the three
 * reads the host agent needs and the event stream. Unversioned paths, so any
 * engine since API 1.24 answers; every answer is validated.
 */
export class DockerClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** Running containers. */
  async list(): Promise<ListedContainer[]> {
    return this.getJson('/containers/json', containerListSchema);
  }

  /** One container; null when it is gone (404). */
  async inspect(id: string): Promise<InspectedContainer | null> {
    try {
      return await this.getJson(`/containers/${encodeURIComponent(id)}/json`, inspectSchema);
    } catch (err) {
      if (err instanceof DockerApiError && err.status === 404) return null;
      throw err;
    }
  }

  async info(): Promise<EngineInfo> {
    return this.getJson('/info', engineInfoSchema);
  }

  private async getJson<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    const res = await this.open(path, this.timeoutMs);
    const body = await readBody(res, path, this.timeoutMs);
    if (res.statusCode !== 200) {
      throw new DockerApiError(`${this.where(path)}: HTTP ${String(res.statusCode)} ${body.slice(0, 200)}`, res.statusCode ?? null);
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (err) {
      throw new DockerApiError(`${this.where(path)}: not JSON`, null, { cause: err });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new DockerApiError(`${this.where(path)}: unexpected answer: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`, null);
    return parsed.data;
  }

  /**
   * The container events stream (start, stop, die, destroy) from `sinceS`
   * (unix seconds, so a reconnect misses nothing). Calls `onEvent` per valid
   * event and `onBad` per line that is not one; resolves when the stream
   * ends, rejects when it cannot be opened. `abort` closes it.
   */
  async events(opts: { sinceS?: number; onEvent: (e: EngineEvent) => void; onBad: (reason: string) => void; signal: AbortSignal }): Promise<void> {
    const filters = JSON.stringify({ type: ['container'], event: [...WATCHED_ACTIONS] });
    const since = opts.sinceS === undefined ? '' : `&since=${opts.sinceS}`;
    const path = `/events?filters=${encodeURIComponent(filters)}${since}`;
    const res = await this.open(path, this.timeoutMs, opts.signal);
    if (res.statusCode !== 200) {
      const body = await readBody(res, path, this.timeoutMs).catch(() => '');
      throw new DockerApiError(`${this.where(path)}: HTTP ${String(res.statusCode)} ${body.slice(0, 200)}`, res.statusCode ?? null);
    }
    const lines = new LineSplitter(MAX_EVENT_LINE);
    const handle = (line: string): void => {
      if (line.trim() === '') return;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        opts.onBad(`not JSON: ${line.slice(0, 80)}`);
        return;
      }
      const e = engineEventSchema.safeParse(json);
      if (e.success) opts.onEvent(e.data);
      else opts.onBad(`not an event: ${e.error.issues[0]?.message ?? '?'}`);
    };
    await new Promise<void>((resolve) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const line of lines.push(chunk)) handle(line);
        if (lines.overflowed) {
          opts.onBad(`an event line longer than ${MAX_EVENT_LINE} bytes was dropped`);
          lines.overflowed = false;
        }
      });
      res.once('end', resolve);
      res.once('close', resolve);
      res.once('error', () => {
        resolve();
      });
    });
  }

  private where(path: string): string {
    return `docker ${this.socketPath} GET ${path.split('?')[0] ?? path}`;
  }

  private async open(path: string, timeoutMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    const { request } = httpModule();
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'GET', headers: { Host: 'docker' }, signal }, resolve);
      // Until the answer's headers: the event stream then stays open for good.
      const timer = setTimeout(() => {
        req.destroy(new DockerApiError(`${this.where(path)}: no answer within ${timeoutMs} ms`, null));
      }, timeoutMs);
      req.once('response', () => {
        clearTimeout(timer);
      });
      req.once('error', (err) => {
        clearTimeout(timer);
        if (err instanceof DockerApiError) reject(err);
        else reject(new DockerApiError(`${this.where(path)}: ${err.message} (is the Docker socket mounted and readable?)`, null, { cause: err }));
      });
      req.end();
    });
  }
}

function readBody(res: IncomingMessage, path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      res.destroy();
      reject(new DockerApiError(`docker GET ${path}: body not complete within ${timeoutMs} ms`, null));
    }, timeoutMs);
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        clearTimeout(timer);
        res.destroy();
        reject(new DockerApiError(`docker GET ${path}: answer larger than ${MAX_BODY_BYTES} bytes`, null));
        return;
      }
      chunks.push(c);
    });
    res.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.once('error', (err) => {
      clearTimeout(timer);
      reject(new DockerApiError(`docker GET ${path}: ${err.message}`, null, { cause: err }));
    });
  });
}
