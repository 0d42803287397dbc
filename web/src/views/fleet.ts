import { drawSparkline } from '../charts.js';
import type { View, ViewContext } from '../context.js';
import { h, setBadge, setText } from '../dom.js';
import { filterRows, fleetRow, fleetSummary, sortRows, type FleetRow, type SortKey } from '../fleet-model.js';
import { fmtBytes, fmtDuration, fmtPercent, fmtRate } from '../format.js';

interface Col {
  key: SortKey;
  label: string;
  cell: (r: FleetRow) => string;
  numeric: boolean;
}

const COLS: Col[] = [
  { key: 'name', label: 'Container', cell: (r) => r.name, numeric: false },
  { key: 'status', label: 'Status', cell: (r) => r.status, numeric: false },
  { key: 'cpu', label: 'CPU % of limit', cell: (r) => fmtPercent(r.cpu), numeric: true },
  { key: 'mem', label: 'Memory % of limit', cell: (r) => fmtPercent(r.mem), numeric: true },
  { key: 'rx', label: 'Net rx', cell: (r) => fmtRate(r.rx), numeric: true },
  { key: 'tx', label: 'Net tx', cell: (r) => fmtRate(r.tx), numeric: true },
  { key: 'read', label: 'Disk read', cell: (r) => fmtRate(r.read), numeric: true },
  { key: 'write', label: 'Disk write', cell: (r) => fmtRate(r.write), numeric: true },
  { key: 'disk', label: 'Disk %', cell: (r) => fmtPercent(r.disk), numeric: true },
  { key: 'gpus', label: 'GPUs', cell: (r) => String(r.gpus), numeric: true },
  { key: 'uptime', label: 'Uptime', cell: (r) => fmtDuration(r.uptime), numeric: true },
];

interface RowEls {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
  badge: HTMLSpanElement;
  spark: HTMLCanvasElement;
}

const SKELETON_ROWS = 6;

/** Fleet table: one row per container, sortable by any column, filterable by name, with a summary strip. */
export function fleetView(root: HTMLElement, ctx: ViewContext): View {
  const { store } = ctx;
  let sortKey: SortKey = 'name';
  let sortDir: 'asc' | 'desc' = 'asc';
  let filter = '';
  // A placeholder so the first real render replaces the skeleton rows, even for an empty fleet.
  let order: string[] = ['\u0000skeleton'];
  const rows = new Map<string, RowEls>();

  const summaryItems = {
    status: h('span', { class: 'sum-value', 'data-sum': 'status' }),
    cores: h('span', { class: 'sum-value', 'data-sum': 'cores' }),
    mem: h('span', { class: 'sum-value', 'data-sum': 'memory' }),
    alerts: h('a', { class: 'sum-value', href: '#/alerts', 'data-sum': 'alerts' }),
  };
  const summary = h(
    'section',
    { class: 'summary', 'aria-label': 'Fleet summary' },
    h('div', { class: 'sum' }, h('span', { class: 'sum-label' }, 'Containers'), summaryItems.status),
    h('div', { class: 'sum' }, h('span', { class: 'sum-label' }, 'Cores used / limit'), summaryItems.cores),
    h('div', { class: 'sum' }, h('span', { class: 'sum-label' }, 'Memory used / limit'), summaryItems.mem),
    h('div', { class: 'sum' }, h('span', { class: 'sum-label' }, 'Firing alerts'), summaryItems.alerts),
  );

  const input = h('input', { type: 'search', placeholder: 'Filter by name', 'aria-label': 'Filter containers by name', id: 'fleet-filter' });
  input.addEventListener('input', () => {
    filter = input.value;
    update(null);
  });

  const headCells = COLS.map((c) => {
    const btn = h('button', { type: 'button', class: 'sort', 'aria-label': `Sort by ${c.label}` }, c.label);
    btn.addEventListener('click', () => {
      if (sortKey === c.key) sortDir = sortDir === 'asc' ? 'desc' : 'asc';
      else {
        sortKey = c.key;
        sortDir = c.numeric ? 'desc' : 'asc';
      }
      update(null);
    });
    return h('th', { scope: 'col', class: c.numeric ? 'num' : null, 'data-col': c.key }, btn);
  });
  const thead = h('thead', {}, h('tr', {}, ...headCells, h('th', { scope: 'col' }, 'CPU trend')));
  const tbody = h('tbody', {});
  const empty = h('p', { class: 'empty', hidden: true }, 'No containers have reported yet.');
  const table = h('table', { class: 'fleet', 'aria-label': 'Containers' }, thead, tbody);

  for (let i = 0; i < SKELETON_ROWS; i++) {
    tbody.append(h('tr', { class: 'skeleton', 'aria-hidden': 'true' }, ...[...COLS, null].map(() => h('td', {}, h('span', { class: 'bone' })))));
  }

  root.append(h('h1', {}, 'Fleet'), summary, h('div', { class: 'toolbar' }, input), h('div', { class: 'table-wrap' }, table, empty));

  function rowEls(name: string): RowEls {
    let r = rows.get(name);
    if (r !== undefined) return r;
    const cells = COLS.map((c) => h('td', { class: c.numeric ? 'num' : null, 'data-col': c.key }));
    const link = h('a', { href: `#/container/${encodeURIComponent(name)}` }, name);
    cells[0]?.append(link);
    const badge = h('span', { class: 'badge' });
    cells[1]?.append(badge);
    const spark = h('canvas', { width: 100, height: 22, class: 'spark', role: 'img', 'aria-label': `CPU trend of ${name}` });
    const tr = h('tr', { 'data-name': name }, ...cells, h('td', {}, spark));
    r = { tr, cells, badge, spark };
    rows.set(name, r);
    return r;
  }

  function fill(r: RowEls, row: FleetRow, sparkValues: readonly (number | null)[]): void {
    setBadge(r.badge, row.status);
    r.tr.dataset.status = row.status;
    for (let i = 2; i < COLS.length; i++) {
      const c = COLS[i];
      const td = r.cells[i];
      if (c !== undefined && td !== undefined) setText(td, c.cell(row));
    }
    drawSparkline(r.spark, sparkValues);
  }

  function renderSummary(): void {
    if (!store.loaded) return;
    const s = fleetSummary(store.containers.values(), store.alerts);
    setText(summaryItems.status, `${s.byStatus.ok} ok · ${s.byStatus.stale} stale · ${s.byStatus.offline} offline · ${s.byStatus.exited} exited`);
    setText(summaryItems.cores, `${s.coresUsed.toFixed(2)} / ${s.coresLimit.toFixed(2)}`);
    setText(summaryItems.mem, `${fmtBytes(s.memUsed)} / ${fmtBytes(s.memLimit)}`);
    setText(summaryItems.alerts, String(s.firing));
  }

  function update(names: ReadonlySet<string> | null): void {
    if (!store.loaded) return;
    renderSummary();
    for (const th of headCells) {
      const key = th.dataset.col;
      th.setAttribute('aria-sort', key === sortKey ? (sortDir === 'asc' ? 'ascending' : 'descending') : 'none');
    }
    const all = [...store.containers.values()];
    const model = new Map(all.map((c) => [c.name, fleetRow(c)]));
    const shown = sortRows(filterRows([...model.values()], filter), sortKey, sortDir);
    const nextOrder = shown.map((r) => r.name);
    const orderChanged = nextOrder.length !== order.length || nextOrder.some((n, i) => n !== order[i]);
    for (const row of shown) {
      if (names !== null && !names.has(row.name) && rows.has(row.name)) continue;
      const c = store.containers.get(row.name);
      fill(rowEls(row.name), row, c?.spark.columns[1] ?? []);
    }
    if (orderChanged) {
      for (const [name, r] of rows) if (!model.has(name)) {
        r.tr.remove();
        rows.delete(name);
      }
      const frag = document.createDocumentFragment();
      for (const n of nextOrder) {
        const r = rows.get(n);
        if (r !== undefined) frag.append(r.tr);
      }
      tbody.replaceChildren(frag);
      order = nextOrder;
    }
    empty.hidden = all.length > 0;
    if (all.length === 0) setText(empty, 'No containers have reported yet.');
    else if (shown.length === 0) {
      empty.hidden = false;
      setText(empty, `No container name contains "${filter.trim()}".`);
    }
  }

  update(null);
  return {
    update,
    destroy: () => {
      root.replaceChildren();
    },
  };
}
