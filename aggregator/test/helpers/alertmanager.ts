import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

/**
 * A real Alertmanager (Debian's prometheus-alertmanager) on a free port,
 * clustering off, routing every alert to `webhookUrl` with short group
 * timers. Stop and start again to simulate an outage (same port and storage).
 */
export class AlertmanagerProcess {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'am-'));
  stderr = '';

  constructor(
    readonly port: number,
    webhookUrl: string,
  ) {
    writeFileSync(join(this.dir, 'am.yml'), [
      'route:',
      '  receiver: rx',
      "  group_by: ['alertname', 'container']",
      '  group_wait: 500ms',
      '  group_interval: 1s',
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: rx',
      '    webhook_configs:',
      `      - url: ${webhookUrl}`,
      '        send_resolved: true',
    ].join('\n'));
  }

  static binary(): string {
    return process.env.ALERTMANAGER_BIN ?? 'prometheus-alertmanager';
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(AlertmanagerProcess.binary(), [
      `--config.file=${join(this.dir, 'am.yml')}`,
      `--storage.path=${join(this.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${this.port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-20_000);
    });
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err) => {
        reject(new Error(`cannot start ${AlertmanagerProcess.binary()} (install Debian's prometheus-alertmanager package): ${err.message}`));
      });
      child.once('spawn', () => {
        resolve();
      });
    });
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}: ${this.stderr}`);
      try {
        if ((await fetch(`${this.url}/-/ready`)).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`alertmanager on ${this.port} not ready within 15 s: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => {
      resolve();
    }));
    child.kill('SIGTERM');
    await exited;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Alerts as Alertmanager holds them (`GET /api/v2/alerts`). */
  async alerts(): Promise<AmHeld[]> {
    const r = await fetch(`${this.url}/api/v2/alerts`);
    return z.array(amHeldSchema).parse(await r.json());
  }

  /** Creates a silence (`POST /api/v2/silences`) on equal matchers; returns its id. */
  async silence(matchers: Record<string, string>, minutes: number): Promise<string> {
    const now = Date.now();
    const r = await fetch(`${this.url}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: Object.entries(matchers).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + minutes * 60_000).toISOString(),
        createdBy: 'test',
        comment: 'silenced by the test',
      }),
    });
    const body: unknown = await r.json();
    if (!r.ok) throw new Error(`silence not created: HTTP ${r.status} ${JSON.stringify(body)}`);
    return z.object({ silenceID: z.string() }).parse(body).silenceID;
  }
}

const amHeldSchema = z.object({
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  startsAt: z.string(),
  endsAt: z.string(),
  status: z.object({ state: z.string(), silencedBy: z.array(z.string()) }),
});
export type AmHeld = z.infer<typeof amHeldSchema>;

/** One alert of Alertmanager's webhook body (version 4). */
export const amWebhookSchema = z.object({
  status: z.string(),
  alerts: z.array(z.object({ status: z.string(), labels: z.record(z.string(), z.string()), startsAt: z.string(), endsAt: z.string() })),
});
