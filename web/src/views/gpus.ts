import { TimeChart } from '../charts.js';
import type { View, ViewContext } from '../context.js';
import { badge, h, setBadge, setText } from '../dom.js';
import { fmtBytes, fmtNumber, percentOf } from '../format.js';
import { COMPARE_LABELS, COMPARE_METRICS, compareGpus, compareValues, type GpuEntry } from '../gpu-model.js';
import type { FleetStore } from '../store.js';

function entries(store: FleetStore): GpuEntry[] {
  const out: GpuEntry[] = [];
  for (const c of store.containers.values()) {
    if (c.sample === null || c.status === 'offline') continue;
    for (const g of c.sample.gpus) out.push({ id: g.uuid, container: c.name, status: c.status, gpu: g });
  }
  return out.sort((a, b) => a.container.localeCompare(b.container) || a.gpu.index - b.gpu.index);
}

function meter(label: string, value: number | null, max: number | null, text: string): HTMLElement {
  const pct = percentOf(value, max);
  const bar = h('div', { class: 'meter-fill' });
  bar.style.width = `${Math.min(100, pct ?? 0)}%`;
  return h(
    'div',
    { class: 'meter-row' },
    h('span', { class: 'meter-label' }, label),
    h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': max ?? 0, 'aria-valuenow': value ?? 0, 'aria-valuetext': text }, bar),
    h('span', { class: 'meter-text' }, text),
  );
}

interface Card {
  el: HTMLElement;
  chart: TimeChart;
  body: HTMLElement;
  status: HTMLSpanElement;
}

/** Per-GPU cards (utilization + temperature chart, memory, power, clocks, processes, static info) and a compare table. */
export function gpuView(root: HTMLElement, ctx: ViewContext, compare: boolean): View {
  const { store } = ctx;
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'GPU views' },
    h('a', { href: '#/gpus', 'aria-current': compare ? null : 'page' }, 'Per GPU'),
    h('a', { href: '#/gpus/compare', 'aria-current': compare ? 'page' : null }, 'Compare'),
  );
  const content = h('div', { class: compare ? 'gpu-compare' : 'gpu-cards' });
  const empty = h('p', { class: 'empty' }, 'loading…');
  root.append(h('h1', {}, 'GPUs'), tabs, empty, content);
  const cards = new Map<string, Card>();

  function card(e: GpuEntry): Card {
    let c = cards.get(e.id);
    if (c !== undefined) return c;
    const body = h('div', { class: 'gpu-body' });
    const status = badge(e.status);
    const el = h('article', { class: 'gpu-card', 'data-uuid': e.id, 'aria-label': `GPU ${e.gpu.index} ${e.gpu.name} in ${e.container}` }, h('h2', {}, `GPU ${e.gpu.index} · ${e.gpu.name} `, status), h('p', { class: 'muted' }, 'container ', h('a', { href: `#/container/${encodeURIComponent(e.container)}` }, e.container), ` · ${e.gpu.uuid}`));
    content.append(el);
    const chart = new TimeChart(el, store.gpuSeries(e.id), {
      title: 'Utilization and temperature (last 5 min, since the page opened)',
      series: [
        { label: 'utilization %', stroke: '#5fb3f9', scale: 'pct', fmt: (v) => `${v.toFixed(0)} %` },
        { label: 'temperature °C', stroke: '#f59e0b', scale: 'temp', fmt: (v) => `${v.toFixed(0)} °C` },
      ],
      axes: [
        { scale: 'pct', side: 'left', fmt: (v) => `${v.toFixed(0)} %`, range: [0, 100] },
        { scale: 'temp', side: 'right', fmt: (v) => `${v.toFixed(0)} °C`, range: [0, 100] },
      ],
      height: 160,
      window: () => 300,
    });
    el.append(body);
    c = { el, chart, body, status };
    cards.set(e.id, c);
    return c;
  }

  function fillCard(c: Card, e: GpuEntry): void {
    const g = e.gpu;
    setBadge(c.status, e.status);
    const procs = g.processes ?? [];
    c.body.replaceChildren(
      meter('Memory', g.memory_used_bytes, g.memory_total_bytes, `${fmtBytes(g.memory_used_bytes)} / ${fmtBytes(g.memory_total_bytes)}`),
      meter('Power', g.power_watts, g.power_limit_watts, `${fmtNumber(g.power_watts, 0)} W / ${fmtNumber(g.power_limit_watts, 0)} W`),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Clocks'),
        h('dd', {}, `SM ${fmtNumber(g.clock_sm_mhz)} / ${fmtNumber(g.clock_max_sm_mhz)} MHz · mem ${fmtNumber(g.clock_mem_mhz)} MHz · graphics ${fmtNumber(g.clock_graphics_mhz)} MHz`),
        h('dt', {}, 'Driver'),
        h('dd', {}, g.driver_version ?? '—'),
        h('dt', {}, 'CUDA'),
        h('dd', {}, g.cuda_driver_version ?? '—'),
        h('dt', {}, 'Compute capability'),
        h('dd', {}, g.compute_capability ?? '—'),
        h('dt', {}, 'Health'),
        h('dd', {}, g.health),
        h('dt', {}, 'Processes'),
        h('dd', {}, procs.length === 0 ? (g.processes === null ? 'not reported' : 'none') : procs.map((p) => `${p.pid} (${p.pid_namespace}) ${fmtBytes(p.used_memory_bytes)}`).join(', ')),
      ),
    );
    c.chart.update();
  }

  function renderCompare(list: GpuEntry[]): void {
    const ext = compareGpus(list);
    const head = h('tr', {}, h('th', { scope: 'col' }, 'Metric'), ...list.map((e) => h('th', { scope: 'col', 'data-uuid': e.id }, `GPU ${e.gpu.index} · ${e.container}${e.status === 'ok' ? '' : ` (${e.status})`}`)));
    const rows = COMPARE_METRICS.map((m) =>
      h(
        'tr',
        { 'data-metric': m },
        h('th', { scope: 'row' }, COMPARE_LABELS[m]),
        ...list.map((e) => {
          const v = compareValues(e.gpu)[m];
          const hi = ext[m].high.includes(e.id);
          const lo = ext[m].low.includes(e.id);
          return h('td', { class: `num${hi ? ' highest' : ''}${lo ? ' lowest' : ''}`, 'data-uuid': e.id, 'aria-label': `${COMPARE_LABELS[m]} ${fmtNumber(v, 1)}${hi ? ', highest' : ''}${lo ? ', lowest' : ''}` }, `${fmtNumber(v, 1)}${hi ? ' ▲' : ''}${lo ? ' ▼' : ''}`);
        }),
      ),
    );
    const info = (label: string, f: (e: GpuEntry) => string) => h('tr', {}, h('th', { scope: 'row' }, label), ...list.map((e) => h('td', {}, f(e))));
    content.replaceChildren(
      h('table', { class: 'compare', 'aria-label': 'GPUs side by side; ▲ highest, ▼ lowest' }, h('thead', {}, head), h('tbody', {}, ...rows, info('Name', (e) => e.gpu.name), info('Driver', (e) => e.gpu.driver_version ?? '—'), info('CUDA', (e) => e.gpu.cuda_driver_version ?? '—'), info('Compute capability', (e) => e.gpu.compute_capability ?? '—'))),
      h('p', { class: 'muted' }, '▲ highest, ▼ lowest value of each metric across the GPUs shown'),
    );
  }

  function update(): void {
    if (!store.loaded) return;
    const list = entries(store);
    empty.hidden = list.length > 0;
    setText(empty, 'No GPUs reported by any running container.');
    if (compare) {
      renderCompare(list);
      return;
    }
    const ids = new Set(list.map((e) => e.id));
    for (const [id, c] of cards) if (!ids.has(id)) {
      c.chart.destroy();
      c.el.remove();
      cards.delete(id);
    }
    for (const e of list) fillCard(card(e), e);
  }

  update();
  return {
    update,
    destroy: () => {
      for (const c of cards.values()) c.chart.destroy();
      root.replaceChildren();
    },
  };
}
