import { z } from 'zod';
import type { View, ViewContext } from '../context.js';
import { h } from '../dom.js';
import { fmtAgo, fmtNumber } from '../format.js';
import { alertsResponseSchema, type Alert } from '../schemas.js';

const RANK: Record<string, number> = { firing: 0, pending: 1 };

const whoamiSchema = z.object({ role: z.enum(['viewer', 'admin']).nullable(), name: z.string().nullable() });
const silenceSchema = z.object({
  id: z.string(),
  rule_id: z.string().nullable(),
  container: z.string().nullable(),
  comment: z.string(),
  created_by: z.string(),
  ends_at: z.number(),
  expired_at: z.number().nullable(),
});
type Silence = z.infer<typeof silenceSchema>;
const silencesSchema = z.object({ silences: z.array(silenceSchema) });
const anyAnswer = z.unknown();

/** How long the dashboard's Silence button silences for. */
const SILENCE_DURATION = '1h';

/**
 * Firing and pending alerts, firing first, with a link to each container;
 * silenced and acknowledged ones are marked. With an admin token the rows get
 * Silence and Acknowledge buttons and active silences an Expire button.
 */
export function alertsView(root: HTMLElement, ctx: ViewContext): View {
  const body = h('tbody', {});
  const empty = h('p', { class: 'empty' }, 'loading…');
  const problem = h('p', { class: 'error', role: 'alert' });
  problem.hidden = true;
  const silenceList = h('ul', { class: 'alert-list silences', 'aria-label': 'Active silences' });
  const noSilences = h('p', { class: 'empty' }, 'No active silences.');
  const actionsHead = h('th', { scope: 'col' }, 'Actions');
  actionsHead.hidden = true;
  let admin = false;
  let silences: Silence[] = [];
  let destroyed = false;
  root.append(
    h('h1', {}, 'Alerts'),
    problem,
    empty,
    h(
      'table',
      { class: 'alerts', 'aria-label': 'Firing and pending alerts' },
      h('thead', {}, h('tr', {}, ...['State', 'Severity', 'Alert', 'Container', 'Value', 'Since', 'Notes'].map((t) => h('th', { scope: 'col' }, t)), actionsHead)),
      body,
    ),
    h('h2', {}, 'Silences'),
    noSilences,
    silenceList,
  );

  function fail(err: unknown): void {
    problem.textContent = err instanceof Error ? err.message : String(err);
    problem.hidden = false;
  }

  async function reload(): Promise<void> {
    const [a, s] = await Promise.all([ctx.api.get('/api/v1/alerts', alertsResponseSchema), ctx.api.get('/api/v1/silences', silencesSchema)]);
    if (destroyed) return;
    silences = s.silences;
    ctx.store.setAlerts(a.alerts);
    update();
  }

  /** Runs an admin action, then shows the new state (or the server's error). */
  function action(run: () => Promise<unknown>): void {
    problem.hidden = true;
    void run().then(reload).catch(fail);
  }

  function silence(a: Alert): void {
    const comment = window.prompt(`Silence "${a.name}" on ${a.container === '' ? 'every container' : a.container} for ${SILENCE_DURATION}. Why?`);
    if (comment === null || comment.trim() === '') return;
    const target = a.container === '' ? { rule_id: a.rule_id } : { rule_id: a.rule_id, container: a.container };
    action(() => ctx.api.post('/api/v1/silences', { ...target, duration: SILENCE_DURATION, comment }, anyAnswer));
  }

  function acknowledge(a: Alert): void {
    action(() => ctx.api.post(`/api/v1/alerts/${encodeURIComponent(a.fingerprint)}/ack`, { comment: '' }, anyAnswer));
  }

  function notes(a: Alert): HTMLElement {
    const cell = h('td', { class: 'notes' });
    if (a.silenced_by.length > 0) cell.append(h('span', { class: 'badge silenced', title: `silence ${a.silenced_by.join(', ')}` }, 'silenced'), ' ');
    if (a.acknowledged) cell.append(h('span', { class: 'badge acked', title: a.acknowledged.comment }, `acknowledged by ${a.acknowledged.by}`));
    return cell;
  }

  function buttons(a: Alert): HTMLElement {
    const cell = h('td', { class: 'actions' });
    if (!admin) return cell;
    if (a.silenced_by.length === 0) {
      const b = h('button', { type: 'button', class: 'silence' }, 'Silence');
      b.addEventListener('click', () => {
        silence(a);
      });
      cell.append(b, ' ');
    }
    if (a.state === 'firing' && !a.acknowledged) {
      const b = h('button', { type: 'button', class: 'ack' }, 'Acknowledge');
      b.addEventListener('click', () => {
        acknowledge(a);
      });
      cell.append(b);
    }
    return cell;
  }

  function silenceItem(s: Silence): HTMLElement {
    const what = [s.rule_id === null ? null : `rule ${s.rule_id}`, s.container === null ? null : `container ${s.container}`].filter((x) => x !== null).join(', ');
    const li = h('li', { 'data-silence': s.id }, `${what}, until ${new Date(s.ends_at).toLocaleString()}, by ${s.created_by}: ${s.comment} `);
    if (admin) {
      const b = h('button', { type: 'button', class: 'expire' }, 'Expire');
      b.addEventListener('click', () => {
        action(() => ctx.api.post(`/api/v1/silences/${encodeURIComponent(s.id)}/expire`, {}, anyAnswer));
      });
      li.append(b);
    }
    return li;
  }

  function update(): void {
    if (!ctx.store.loaded) return;
    const list = [...ctx.store.alerts].sort((a, b) => (RANK[a.state] ?? 2) - (RANK[b.state] ?? 2) || a.since.localeCompare(b.since));
    empty.hidden = list.length > 0;
    empty.textContent = 'No firing or pending alerts.';
    actionsHead.hidden = !admin;
    const now = Date.now();
    body.replaceChildren(
      ...list.map((a) => {
        const row = h(
          'tr',
          { class: `state-${a.state}`, 'data-fingerprint': a.fingerprint },
          h('td', {}, h('span', { class: `badge alert-${a.state}` }, a.state)),
          h('td', { class: `sev-${a.severity ?? 'none'}` }, a.severity ?? '—'),
          h('td', {}, a.name, a.gpu === null ? null : h('span', { class: 'muted' }, ` (GPU ${a.gpu})`)),
          h('td', {}, a.container === '' ? '—' : h('a', { href: `#/container/${encodeURIComponent(a.container)}` }, a.container)),
          h('td', { class: 'num' }, fmtNumber(a.value)),
          h('td', {}, fmtAgo(a.since, now)),
          notes(a),
        );
        if (admin) row.append(buttons(a));
        return row;
      }),
    );
    const active = silences.filter((s) => s.expired_at === null && s.ends_at > now);
    noSilences.hidden = active.length > 0;
    silenceList.replaceChildren(...active.map(silenceItem));
  }

  // The role decides whether the buttons show; the server checks it again on every action.
  void ctx.api
    .get('/api/v1/whoami', whoamiSchema)
    .then((w) => {
      admin = w.role === 'admin';
    })
    .then(reload)
    .catch(() => {
      // An aggregator without these routes (or alerting off): the list still shows, without silences.
      update();
    });
  const timer = setInterval(() => {
    void reload().catch(() => undefined);
  }, 10_000);
  update();
  return {
    update,
    destroy: () => {
      destroyed = true;
      clearInterval(timer);
      root.replaceChildren();
    },
  };
}
