import './zod-config.js';
import { payloadSchema } from '../../shared/src/payload.js';
import { Api, ApiError, AuthError } from './api.js';
import { TokenStore, tokenFromUrl } from './auth.js';
import { Connection, type ConnState } from './connection.js';
import type { View, ViewContext } from './context.js';
import { setText } from './dom.js';
import { parseRoute } from './router.js';
import { alertsResponseSchema, containersResponseSchema, statusEventSchema } from './schemas.js';
import { FleetStore } from './store.js';
import { alertsView } from './views/alerts.js';
import { containerView } from './views/container.js';
import { fleetView } from './views/fleet.js';
import { gpuView } from './views/gpus.js';

const tokens = new TokenStore(sessionStorage);
const fromUrl = tokenFromUrl(location.href);
if (fromUrl.token !== null) {
  tokens.set(fromUrl.token);
  history.replaceState(null, '', fromUrl.cleaned);
}

const api = new Api(() => tokens.get());
const store = new FleetStore();
const ctx: ViewContext = { store, api };

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`index.html is missing #${id}`);
  return el;
}
const main = byId('view', HTMLElement);
const connEl = byId('conn', HTMLElement);
const connText = byId('conn-text', HTMLElement);
const errorEl = byId('error', HTMLElement);
const alertCount = byId('nav-alert-count', HTMLElement);
const authForm = byId('auth', HTMLFormElement);

function showError(msg: string | null): void {
  errorEl.hidden = msg === null;
  setText(errorEl, msg ?? '');
}

// --- views -----------------------------------------------------------------
let view: View | null = null;
let pending: Set<string> | null = new Set();
let everything = false;
let frame = 0;
let painted = false;

/** Store changes are coalesced into one redraw per animation frame (a burst of events costs one render). */
function schedule(names: ReadonlySet<string> | null): void {
  if (names === null) everything = true;
  else if (pending !== null) for (const n of names) pending.add(n);
  if (frame !== 0) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const changed = everything ? null : pending;
    everything = false;
    pending = new Set();
    view?.update(changed);
    if (store.loaded && !painted) {
      painted = true;
      // First meaningful paint: the frame after the one that drew the first data (read by npm run bench).
      requestAnimationFrame(() => {
        performance.mark('first-data-paint');
      });
    }
    setText(alertCount, String(store.alerts.filter((a) => a.state === 'firing').length));
    connEl.title = `${eventCount} live events received`;
  });
}
store.subscribe(schedule);

function mount(): void {
  view?.destroy();
  main.replaceChildren();
  const r = parseRoute(location.hash);
  for (const a of document.querySelectorAll('header nav a')) {
    const target = a.getAttribute('data-view');
    if (target === r.view || (target === 'fleet' && r.view === 'container')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (r.view === 'container') view = containerView(main, ctx, r.name, r.range);
  else if (r.view === 'gpus') view = gpuView(main, ctx, r.compare);
  else if (r.view === 'alerts') view = alertsView(main, ctx);
  else view = fleetView(main, ctx);
  document.title = r.view === 'container' ? `${r.name} · system-monitor` : 'system-monitor';
}
window.addEventListener('hashchange', mount);

// --- data ------------------------------------------------------------------
let authWanted = false;

function askToken(): void {
  if (authWanted) return;
  authWanted = true;
  authForm.hidden = false;
  const input = authForm.querySelector('input');
  input?.focus();
}

authForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const input = authForm.querySelector('input');
  tokens.set(input?.value ?? null);
  authForm.hidden = true;
  authWanted = false;
  conn.stop();
  void refresh().then(() => {
    conn.start();
  });
});

async function refreshAlerts(): Promise<void> {
  try {
    store.setAlerts((await api.get('/api/v1/alerts', alertsResponseSchema)).alerts);
  } catch (err) {
    if (err instanceof ApiError && err.status === 503) store.setAlerts([]);
    else throw err;
  }
}

/** Everything over REST: the first load, and each poll while SSE is down. */
async function refresh(): Promise<void> {
  try {
    const alerts = refreshAlerts();
    alerts.catch(() => undefined);
    const list = await api.get('/api/v1/containers?include=sample', containersResponseSchema);
    store.applyList(list.containers);
    await alerts;
    showError(null);
  } catch (err) {
    if (err instanceof AuthError) askToken();
    else showError(`cannot reach the aggregator: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}

let alertTimer = 0;
let eventCount = 0;
function onEvent(type: string, data: string): void {
  // Shown as a tooltip on the indicator (and read by the browser tests).
  eventCount += 1;
  connEl.dataset.events = String(eventCount);
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return;
  }
  if (type === 'sample') {
    const p = payloadSchema.safeParse(json);
    if (p.success) store.applySample(p.data);
  } else if (type === 'status') {
    const s = statusEventSchema.safeParse(json);
    if (s.success) store.applyStatus(s.data.container, s.data.to);
  } else if (type === 'reload') {
    // The server could not replay what this page missed (too much, or from before a restart): read the fleet again.
    void refresh().catch(() => undefined);
    void refreshAlerts().catch(() => undefined);
  } else if (type === 'alert') {
    // A transition names one alert; the list (with severity and value) is re-read, at most every 500 ms.
    if (alertTimer === 0) alertTimer = window.setTimeout(() => {
      alertTimer = 0;
      void refreshAlerts().catch(() => undefined);
    }, 500);
  }
}

const STATE_TEXT: Record<ConnState, string> = {
  connecting: 'connecting…',
  live: 'live',
  polling: 'polling every 5 s (live stream unavailable)',
  stopped: 'stopped',
};

const conn = new Connection({
  openStream(lastEventId, cb) {
    const es = new EventSource(api.eventsUrl(lastEventId));
    es.onopen = () => {
      cb.onOpen();
    };
    es.onerror = () => {
      cb.onError();
    };
    for (const t of ['sample', 'status', 'alert', 'reload']) {
      es.addEventListener(t, (e) => {
        cb.onEvent(t, e.lastEventId, e.data as string);
      });
    }
    return { close: () => { es.close(); } };
  },
  poll: refresh,
  onEvent,
  onState(s) {
    const was = connEl.dataset.state;
    connEl.dataset.state = s;
    setText(connText, STATE_TEXT[s]);
    // Back on the stream after polling: catch up on anything the ring no longer holds.
    if (s === 'live' && was === 'polling') void refresh().catch(() => undefined);
  },
  setTimer: (fn, ms) => window.setTimeout(fn, ms),
  clearTimer: (t) => {
    window.clearTimeout(t as number);
  },
});

mount();
performance.mark('app-start');
void refresh()
  .catch(() => undefined)
  .finally(() => {
    conn.start();
  });

window.addEventListener('keydown', (e) => {
  if (e.key === '/' && document.activeElement?.tagName !== 'INPUT') {
    const f = document.getElementById('fleet-filter');
    if (f !== null) {
      e.preventDefault();
      f.focus();
    }
  }
});
