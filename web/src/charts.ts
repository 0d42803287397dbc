import uPlot from 'uplot';
import { h } from './dom.js';
import type { SeriesBuffer } from './series.js';

export interface ChartSeries {
  label: string;
  stroke: string;
  /** Scale id; series on the same scale share an axis. */
  scale?: string;
  dash?: number[];
  fmt?: (v: number) => string;
}

export interface ChartAxis {
  scale: string;
  side: 'left' | 'right';
  fmt: (v: number) => string;
  /** Fixed range, e.g. [0, 100] for percentages. */
  range?: [number, number];
  /** The axis reaches at least this high (an idle container's 0 B/s still reads as "low", not as a full-height line). */
  floor?: number;
}

export interface ChartOptions {
  title: string;
  series: ChartSeries[];
  axes: ChartAxis[];
  height?: number;
  /** Seconds shown, ending now (the selected range); without it the x axis fits the data. */
  window?: () => number;
}

const AXIS = { stroke: '#9aa4b2', grid: { stroke: '#263040', width: 1 }, ticks: { stroke: '#263040', width: 1 } };

/**
 * A uPlot time chart over a SeriesBuffer. Created once per view; `update()`
 * hands the same arrays to uPlot again (no chart re-creation per event).
 * The host is an ARIA image whose label carries the newest values.
 */
export class TimeChart {
  readonly host: HTMLElement;
  private readonly plot: uPlot;
  private readonly empty: HTMLElement;
  private readonly resize: ResizeObserver;

  constructor(
    parent: HTMLElement,
    private readonly buffer: SeriesBuffer,
    private readonly opts: ChartOptions,
  ) {
    this.empty = h('div', { class: 'chart-empty' }, 'no data yet');
    const plotEl = h('div', { class: 'chart-plot' });
    this.host = h('figure', { class: 'chart', role: 'img', 'aria-label': opts.title }, h('figcaption', {}, opts.title), plotEl, this.empty);
    parent.append(this.host);
    const height = opts.height ?? 180;
    const win = opts.window;
    const scales: uPlot.Scales = {
      x: win === undefined ? { time: true } : { time: true, auto: true, range: () => [Date.now() / 1000 - win(), Date.now() / 1000] },
    };
    for (const a of opts.axes) {
      const floor = a.floor ?? 1;
      scales[a.scale] = a.range === undefined ? { auto: true, range: (_u, min, max) => [Math.min(0, min), Math.max(floor, max)] } : { auto: false, range: a.range };
    }
    this.plot = new uPlot(
      {
        width: Math.max(200, plotEl.clientWidth || parent.clientWidth || 600),
        height,
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        scales,
        series: [
          {},
          ...opts.series.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: 1.5,
            scale: s.scale ?? opts.axes[0]?.scale ?? 'y',
            dash: s.dash,
            spanGaps: false,
            points: { show: false },
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : (s.fmt ?? String)(v)),
          })),
        ],
        axes: [
          { ...AXIS },
          // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- `side` below is a number for uPlot's const enum
          ...opts.axes.map((a) => ({
            ...AXIS,
            scale: a.scale,
            // uPlot.Axis.Side is an ambient const enum (unusable with isolatedModules): 3 = left, 1 = right.
            side: a.side === 'left' ? 3 : 1,
            grid: { ...AXIS.grid, show: a.side === 'left' },
            size: 74,
            values: (_u: uPlot, splits: number[]) => splits.map((v) => a.fmt(v)),
          })),
        ],
      },
      buffer.columns as uPlot.AlignedData,
      plotEl,
    );
    this.resize = new ResizeObserver(() => {
      const w = plotEl.clientWidth;
      if (w > 0 && Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height });
    });
    this.resize.observe(plotEl);
    this.refreshLabel();
  }

  /** Redraws from the buffer (after push/replace). */
  update(): void {
    this.plot.setData(this.buffer.columns as uPlot.AlignedData);
    this.refreshLabel();
  }

  private refreshLabel(): void {
    const n = this.buffer.length;
    const any = this.buffer.columns.slice(1).some((c) => c.some((v) => v !== null));
    this.empty.hidden = any;
    this.host.dataset.points = String(n);
    if (!any) {
      this.host.setAttribute('aria-label', `${this.opts.title}: no data yet`);
      return;
    }
    const parts = this.opts.series.map((s, i) => {
      const v = this.buffer.columns[i + 1]?.[n - 1];
      return `${s.label} ${v === null || v === undefined ? 'no value' : (s.fmt ?? String)(v)}`;
    });
    this.host.setAttribute('aria-label', `${this.opts.title}, ${n} points, latest: ${parts.join(', ')}`);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot.destroy();
    this.host.remove();
  }
}

/** Draws a small line of values (0–100 scale, higher when a value exceeds it) on a canvas; gaps stay gaps. */
export function drawSparkline(canvas: HTMLCanvasElement, values: readonly (number | null)[]): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const w = canvas.width;
  const hgt = canvas.height;
  ctx.clearRect(0, 0, w, hgt);
  let max = 100;
  for (const v of values) if (v !== null && v > max) max = v;
  const n = values.length;
  if (n === 0) return;
  ctx.strokeStyle = '#5fb3f9';
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  let pen = false;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      pen = false;
      continue;
    }
    const x = n === 1 ? w - 1 : (i / (n - 1)) * (w - 1);
    const y = hgt - 1 - (v / max) * (hgt - 2);
    if (pen) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    pen = true;
  }
  ctx.stroke();
}
