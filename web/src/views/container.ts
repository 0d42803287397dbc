import type { Payload } from '../../../shared/src/payload.js';
import { TimeChart } from '../charts.js';
import type { View, ViewContext } from '../context.js';
import { badge, h, setBadge, setText } from '../dom.js';
import { fmtAgo, fmtBytes, fmtNumber, fmtPercent, fmtRate } from '../format.js';
import { historyPath, RANGES, rangeById, type Range } from '../ranges.js';
import { historyResponseSchema, type HistoryResponse } from '../schemas.js';
import { SeriesBuffer } from '../series.js';
import { cpuOfLimit } from '../store.js';

const HISTORY_FIELDS = [
  'cpu_percent', 'cpu_cores', 'cpu_limit_cores', 'cpu_throttled_percent', 'memory_bytes', 'memory_working_set_bytes', 'memory_limit_bytes',
  'rx_bytes_per_sec', 'tx_bytes_per_sec', 'read_bytes_per_sec', 'write_bytes_per_sec', 'psi_cpu_some_avg10', 'psi_memory_some_avg10', 'psi_io_some_avg10',
] as const;
type HField = (typeof HISTORY_FIELDS)[number];

const pct = (v: number): string => `${Number(v.toPrecision(3))} %`;
const pct1 = (v: number): string => fmtPercent(v);

/** Columns of each chart, from one history point or one live sample. */
function cpuFrom(get: (f: HField) => number | null): number | null {
  const cores = get('cpu_cores');
  const limit = get('cpu_limit_cores');
  return cores !== null && limit !== null && limit > 0 ? (100 * cores) / limit : get('cpu_percent');
}

/** Container detail: charts over a chosen range (history) that keep growing with live samples, top processes, alerts. */
export function containerView(root: HTMLElement, ctx: ViewContext, name: string, rangeId: string | null): View {
  const range: Range = rangeById(rangeId);
  const cap = 6000;
  const buf = {
    cpu: new SeriesBuffer(2, cap),
    mem: new SeriesBuffer(3, cap),
    net: new SeriesBuffer(2, cap),
    disk: new SeriesBuffer(2, cap),
    psi: new SeriesBuffer(3, cap),
  };

  const title = h('h1', {}, name);
  const status = badge('offline');
  const seen = h('span', { class: 'muted' });
  const note = h('p', { class: 'note', role: 'status' });
  const rangeButtons = RANGES.map((r) => {
    const b = h('button', { type: 'button', role: 'radio', 'aria-checked': r.id === range.id ? 'true' : 'false', 'data-range': r.id }, r.label);
    b.addEventListener('click', () => {
      location.hash = `#/container/${encodeURIComponent(name)}?range=${r.id}`;
    });
    return b;
  });
  const rangeGroup = h('div', { class: 'ranges', role: 'radiogroup', 'aria-label': 'Time range' }, ...rangeButtons);
  rangeGroup.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = RANGES.findIndex((r) => r.id === range.id);
    const next = RANGES[(i + (e.key === 'ArrowRight' ? 1 : RANGES.length - 1)) % RANGES.length];
    if (next !== undefined) location.hash = `#/container/${encodeURIComponent(name)}?range=${next.id}`;
  });

  const grid = h('div', { class: 'charts' });
  const procBody = h('tbody', {});
  const procs = h('table', { class: 'procs', 'aria-label': 'Top processes' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'PID'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'num' }, 'Cores'), h('th', { scope: 'col', class: 'num' }, 'RSS'), h('th', { scope: 'col', class: 'num' }, 'Threads'))), procBody);
  const alertList = h('ul', { class: 'alert-list', 'aria-label': 'Alerts of this container' });

  root.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, '← Fleet')),
    h('div', { class: 'detail-head' }, title, status, seen),
    rangeGroup,
    note,
    grid,
    h('div', { class: 'two-col' }, h('section', { 'aria-label': 'Top processes' }, h('h2', {}, 'Top processes'), procs), h('section', { 'aria-label': 'Alerts' }, h('h2', {}, 'Alerts'), alertList)),
  );

  const span = (): number => range.seconds;
  const charts = [
    new TimeChart(grid, buf.cpu, {
      title: 'CPU',
      series: [
        { label: '% of limit', stroke: '#5fb3f9', fmt: pct1 },
        { label: 'throttled %', stroke: '#f59e0b', fmt: pct1 },
      ],
      axes: [{ scale: 'y', side: 'left', fmt: pct, floor: 100 }],
      window: span,
    }),
    new TimeChart(grid, buf.mem, {
      title: 'Memory',
      series: [
        { label: 'usage', stroke: '#a78bfa', fmt: fmtBytes },
        { label: 'working set', stroke: '#34d399', fmt: fmtBytes },
        { label: 'limit', stroke: '#ef4444', dash: [6, 4], fmt: fmtBytes },
      ],
      axes: [{ scale: 'y', side: 'left', fmt: fmtBytes, floor: 1024 * 1024 }],
      window: span,
    }),
    new TimeChart(grid, buf.net, {
      title: 'Network',
      series: [
        { label: 'rx', stroke: '#5fb3f9', fmt: fmtRate },
        { label: 'tx', stroke: '#f472b6', fmt: fmtRate },
      ],
      axes: [{ scale: 'y', side: 'left', fmt: fmtRate, floor: 1024 }],
      window: span,
    }),
    new TimeChart(grid, buf.disk, {
      title: 'Disk I/O',
      series: [
        { label: 'read', stroke: '#34d399', fmt: fmtRate },
        { label: 'write', stroke: '#f59e0b', fmt: fmtRate },
      ],
      axes: [{ scale: 'y', side: 'left', fmt: fmtRate, floor: 1024 }],
      window: span,
    }),
    new TimeChart(grid, buf.psi, {
      title: 'Pressure (PSI some avg10)',
      series: [
        { label: 'cpu', stroke: '#5fb3f9', fmt: pct1 },
        { label: 'memory', stroke: '#a78bfa', fmt: pct1 },
        { label: 'io', stroke: '#f59e0b', fmt: pct1 },
      ],
      axes: [{ scale: 'y', side: 'left', fmt: pct, range: [0, 100] }],
      window: span,
    }),
  ];

  function pushSample(p: Payload): void {
    const t = Date.parse(p.timestamp) / 1000;
    buf.cpu.push(t, [cpuOfLimit(p), p.cpu?.throttled_percent]);
    buf.mem.push(t, [p.memory_usage_bytes, p.memory?.working_set_bytes, p.memory?.limit_bytes]);
    buf.net.push(t, [p.network?.rx_bytes_per_sec, p.network?.tx_bytes_per_sec]);
    buf.disk.push(t, [p.io?.read_bytes_per_sec, p.io?.write_bytes_per_sec]);
    buf.psi.push(t, [p.pressure?.cpu?.some?.avg10, p.pressure?.memory?.some?.avg10, p.pressure?.io?.some?.avg10]);
  }

  function applyHistory(r: HistoryResponse): void {
    const times: number[] = [];
    const cols: Record<'cpu' | 'thr' | 'mem' | 'ws' | 'lim' | 'rx' | 'tx' | 'rd' | 'wr' | 'pc' | 'pm' | 'pi', (number | null)[]> = {
      cpu: [], thr: [], mem: [], ws: [], lim: [], rx: [], tx: [], rd: [], wr: [], pc: [], pm: [], pi: [],
    };
    for (const pt of r.points) {
      const get =
        r.resolution === 'raw'
          ? (f: HField): number | null => (pt.values as Record<string, number | null>)[f] ?? null
          : (f: HField): number | null => (pt.values as Record<string, { avg: number } | null>)[f]?.avg ?? null;
      times.push(pt.ts / 1000);
      cols.cpu.push(cpuFrom(get));
      cols.thr.push(get('cpu_throttled_percent'));
      cols.mem.push(get('memory_bytes'));
      cols.ws.push(get('memory_working_set_bytes'));
      cols.lim.push(get('memory_limit_bytes'));
      cols.rx.push(get('rx_bytes_per_sec'));
      cols.tx.push(get('tx_bytes_per_sec'));
      cols.rd.push(get('read_bytes_per_sec'));
      cols.wr.push(get('write_bytes_per_sec'));
      cols.pc.push(get('psi_cpu_some_avg10'));
      cols.pm.push(get('psi_memory_some_avg10'));
      cols.pi.push(get('psi_io_some_avg10'));
    }
    buf.cpu.replace(times, [cols.cpu, cols.thr]);
    buf.mem.replace(times, [cols.mem, cols.ws, cols.lim]);
    buf.net.replace(times, [cols.rx, cols.tx]);
    buf.disk.replace(times, [cols.rd, cols.wr]);
    buf.psi.replace(times, [cols.pc, cols.pm, cols.pi]);
  }

  let gen = 0;
  async function load(): Promise<void> {
    const my = ++gen;
    setText(note, 'loading history…');
    grid.setAttribute('aria-busy', 'true');
    try {
      performance.mark('history-fetch-start');
      const r = await ctx.api.get(historyPath(name, range, HISTORY_FIELDS), historyResponseSchema);
      if (my !== gen) return;
      performance.mark('history-fetched');
      applyHistory(r);
      const latest = ctx.store.containers.get(name)?.sample;
      if (latest !== undefined && latest !== null && range.resolution === 'raw') pushSample(latest);
      for (const c of charts) c.update();
      // uPlot draws in a microtask it queued during setData; this one runs after it, when all charts are drawn.
      queueMicrotask(() => {
        performance.mark('history-rendered');
        performance.measure('history-render', 'history-fetched', 'history-rendered');
      });
      setText(note, r.points.length === 0 ? `no history in the last ${range.label} yet; live samples are drawn as they arrive` : `${r.points.length} points at ${r.resolution === 'raw' ? 'full' : r.resolution} resolution${r.truncated ? ' (truncated)' : ''}`);
    } catch (err) {
      if (my !== gen) return;
      setText(note, `history unavailable: ${err instanceof Error ? err.message : String(err)}; showing live samples only`);
    } finally {
      if (my === gen) grid.removeAttribute('aria-busy');
    }
  }

  function renderSide(): void {
    const c = ctx.store.containers.get(name);
    setBadge(status, c?.status ?? 'offline');
    const p = c?.sample ?? null;
    setText(seen, p === null ? 'no sample yet' : `last sample ${fmtAgo(p.timestamp, Date.now())}`);
    const top = p?.processes?.top ?? [];
    procBody.replaceChildren(
      ...(top.length === 0
        ? [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, p === null ? 'no data yet' : 'no process list in this sample'))]
        : top.map((t) => h('tr', {}, h('td', {}, String(t.pid)), h('td', {}, t.name), h('td', { class: 'num' }, fmtNumber(t.cores)), h('td', { class: 'num' }, fmtBytes(t.rss_bytes)), h('td', { class: 'num' }, String(t.threads))))),
    );
    const mine = ctx.store.alerts.filter((a) => a.container === name);
    alertList.replaceChildren(
      ...(mine.length === 0
        ? [h('li', { class: 'muted' }, 'no firing or pending alerts')]
        : mine.map((a) => h('li', { class: `sev-${a.severity ?? 'none'}` }, `${a.state} · ${a.severity ?? '—'} · ${a.name} · value ${fmtNumber(a.value)} · since ${fmtAgo(a.since, Date.now())}`))),
    );
  }

  let dirty = false;
  const offSample = ctx.store.onSample((p) => {
    if (p.container_name !== name || range.resolution !== 'raw') return;
    pushSample(p);
    const cutoff = Date.now() / 1000 - range.seconds;
    for (const b of Object.values(buf)) b.dropBefore(cutoff);
    dirty = true;
  });
  const refresh = range.resolution === 'raw' ? null : setInterval(() => void load(), 60_000);

  void load();
  renderSide();
  return {
    update: (names) => {
      if (names !== null && !names.has(name)) return;
      renderSide();
      if (dirty) {
        dirty = false;
        for (const c of charts) c.update();
      }
    },
    destroy: () => {
      gen += 1;
      offSample();
      if (refresh !== null) clearInterval(refresh);
      for (const c of charts) c.destroy();
      root.replaceChildren();
    },
  };
}
