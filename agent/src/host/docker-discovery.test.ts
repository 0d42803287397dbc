/**
 * DockerDiscovery against an Engine API served on a Unix socket from
 * recorded answers (a fixture at the protocol level, like the fixture trees:
 * the shared dockerd of this machine cannot be restarted or fed bad answers
 * by a test). The real engine is exercised by scripts/docker/host-mode.docker-test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { until } from '../../test/helpers/until.js';
import { DockerApiError, DockerClient, socketFromDockerHost } from './docker-api.js';
import { DockerDiscovery } from './docker-discovery.js';
import type { ContainerTarget } from './target.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const OFF = 'c'.repeat(64);

/** Containers the fake engine knows: id → [name, labels, running, host pid]. */
/** When set, what `GET /containers/json` answers instead: [status, raw body]. */
let listOverride: [number, string] | null = null;
const engine = new Map<string, { name: string; labels: Record<string, string>; running: boolean; pid: number }>();

function inspect(id: string): unknown {
  const c = engine.get(id);
  if (c === undefined) return undefined;
  return { Id: id, Name: `/${c.name}`, State: { Status: c.running ? 'running' : 'exited', Running: c.running, Pid: c.running ? c.pid : 0, ExitCode: 0 }, Config: { Hostname: id.slice(0, 12), Labels: c.labels, Env: [] }, HostConfig: { CgroupParent: '', DeviceRequests: null } };
}

describe('Docker discovery over the Engine API', () => {
  let dir: string;
  let socket: string;
  let server: Server;
  const eventStreams: ServerResponse[] = [];
  const eventRequests: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smhost-api-'));
    socket = join(dir, 'docker.sock');
    // Our own process stands in for every container: its cgroup is readable in this machine's /proc.
    engine.set(A, { name: 'web', labels: {}, running: true, pid: process.pid });
    engine.set(OFF, { name: 'skipped', labels: { 'system-monitor.enable': 'false' }, running: true, pid: process.pid });
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://docker');
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname === '/info') { json(200, { CgroupDriver: 'cgroupfs', CgroupVersion: '1' }); return; }
      if (url.pathname === '/containers/json' && listOverride !== null) {
        res.writeHead(listOverride[0]);
        res.end(listOverride[1]);
        return;
      }
      if (url.pathname === '/containers/json') { json(200, [...engine].filter(([, c]) => c.running).map(([id, c]) => ({ Id: id, Names: [`/${c.name}`], Labels: c.labels, State: 'running' }))); return; }
      const m = /^\/containers\/([0-9a-f]{64})\/json$/.exec(url.pathname);
      if (m?.[1] !== undefined) {
        const body = inspect(m[1]);
        if (body === undefined) json(404, { message: 'No such container' });
        else json(200, body);
        return;
      }
      if (url.pathname === '/events') {
        eventRequests.push(url.search);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        eventStreams.push(res);
        return;
      }
      json(404, { message: 'page not found' });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  after(async () => {
    for (const r of eventStreams) r.destroy();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    rmSync(dir, { recursive: true, force: true });
  });

  function send(action: string, id: string, extra: Record<string, string> = {}): void {
    const line = `${JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { name: engine.get(id)?.name ?? '', ...extra } }, time: Math.floor(Date.now() / 1000) })}\n`;
    eventStreams.at(-1)?.write(line);
  }

  it('lists, skips by label, follows start and die events, survives bad lines and a broken stream, and re-reads the list after reconnecting', async () => {
    const added: ContainerTarget[] = [];
    const removed: [string, string][] = [];
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(line); } });
    const d = new DockerDiscovery({ socketPath: socket, procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup', log, reconnectBaseMs: 50, reconnectMaxMs: 100 });
    await d.start({ added: (t) => added.push(t), removed: (id, why) => removed.push([id, why]) });
    assert.deepEqual(added.map((t) => t.name), ['web']);
    assert.equal(added[0]?.hostname, A.slice(0, 12));
    assert.equal(added[0]?.initPid, process.pid);
    assert.equal(added[0]?.cgroup.scope === 'container' || added[0]?.cgroup.scope === 'host', true);
    await until('the event stream', () => (eventStreams.length === 1 ? true : null), 5000);

    // A start event: inspected and added.
    engine.set(B, { name: 'api', labels: { 'system-monitor.name': 'api-renamed' }, running: true, pid: process.pid });
    send('start', B);
    await until('api added', () => (added.some((t) => t.name === 'api-renamed') ? true : null), 5000);

    // Garbage on the stream is reported and skipped; the next event still counts.
    eventStreams.at(-1)?.write('this is not json\n{"Type":"container"}\n');
    engine.set(A, { name: 'web', labels: {}, running: false, pid: 0 });
    send('die', A, { exitCode: '137' });
    await until('web removed', () => (removed.length === 1 ? true : null), 5000);
    assert.deepEqual(removed[0], [A, 'docker event die (exit code 137)']);
    assert.ok(warnings.some((w) => w.includes('not JSON')) && warnings.some((w) => w.includes('not an event')), warnings.join('\n'));

    // The stream breaks; meanwhile api stops unseen. The reconnect asks from the last event's time and re-reads the list.
    engine.set(B, { name: 'api', labels: {}, running: false, pid: 0 });
    eventStreams.at(-1)?.destroy();
    await until('a second event stream', () => (eventStreams.length === 2 ? true : null), 5000);
    assert.match(eventRequests[1] ?? '', /since=\d+/);
    await until('api removed by the re-read', () => (removed.some(([id]) => id === B) ? true : null), 5000);
    assert.match(removed.find(([id]) => id === B)?.[1] ?? '', /re-reading the container list/);
    d.close();
  });

  it('a socket that is not there, an HTTP error and an answer that is not the API are errors naming the socket', async () => {
    const missing = new DockerClient(join(dir, 'nope.sock'), 1000);
    await assert.rejects(missing.list(), (err: unknown) => err instanceof DockerApiError && /nope\.sock.*is the Docker socket mounted/.test(err.message));
    const c = new DockerClient(socket, 1000);
    assert.equal(await c.inspect('f'.repeat(64)), null, '404 is "gone", not an error');
    for (const [answer, why] of [
      [[500, '{"message":"engine broken"}'], /HTTP 500 .*engine broken/],
      [[200, 'not json'], /not JSON/],
      [[200, JSON.stringify([{ Id: 'short', Names: [], State: 'running' }])], /unexpected answer: 0\.Id a 64-hex container id/],
    ] as const) {
      listOverride = [answer[0], answer[1]];
      await assert.rejects(c.list(), (err: unknown) => err instanceof DockerApiError && why.test(err.message) && err.message.includes(socket));
    }
    listOverride = null;
    assert.equal(socketFromDockerHost('unix:///run/user/1000/docker.sock'), '/run/user/1000/docker.sock');
    assert.equal(socketFromDockerHost(undefined), null);
    assert.throws(() => socketFromDockerHost('tcp://10.0.0.1:2375'), /only unix:\/\//);
  });
});
