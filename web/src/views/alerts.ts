import type { View, ViewContext } from '../context.js';
import { h } from '../dom.js';
import { fmtAgo, fmtNumber } from '../format.js';

const RANK: Record<string, number> = { firing: 0, pending: 1 };

/** Firing and pending alerts, firing first, with a link to each container. */
export function alertsView(root: HTMLElement, ctx: ViewContext): View {
  const body = h('tbody', {});
  const empty = h('p', { class: 'empty' }, 'loading…');
  root.append(
    h('h1', {}, 'Alerts'),
    empty,
    h('table', { class: 'alerts', 'aria-label': 'Firing and pending alerts' }, h('thead', {}, h('tr', {}, ...['State', 'Severity', 'Alert', 'Container', 'Value', 'Since'].map((t) => h('th', { scope: 'col' }, t)))), body),
  );
  function update(): void {
    if (!ctx.store.loaded) return;
    const list = [...ctx.store.alerts].sort((a, b) => (RANK[a.state] ?? 2) - (RANK[b.state] ?? 2) || a.since.localeCompare(b.since));
    empty.hidden = list.length > 0;
    empty.textContent = 'No firing or pending alerts.';
    const now = Date.now();
    body.replaceChildren(
      ...list.map((a) =>
        h(
          'tr',
          { class: `state-${a.state}`, 'data-fingerprint': a.fingerprint },
          h('td', {}, h('span', { class: `badge alert-${a.state}` }, a.state)),
          h('td', { class: `sev-${a.severity ?? 'none'}` }, a.severity ?? '—'),
          h('td', {}, a.name, a.gpu === null ? null : h('span', { class: 'muted' }, ` (GPU ${a.gpu})`)),
          h('td', {}, a.container === '' ? '—' : h('a', { href: `#/container/${encodeURIComponent(a.container)}` }, a.container)),
          h('td', { class: 'num' }, fmtNumber(a.value)),
          h('td', {}, fmtAgo(a.since, now)),
        ),
      ),
    );
  }
  update();
  return {
    update,
    destroy: () => {
      root.replaceChildren();
    },
  };
}
