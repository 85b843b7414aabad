// Time charts: uPlot, which draws tens of thousands of points on a canvas in milliseconds.
// Loaded on its own, only by the pages that chart something.
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** Drawn as bars (counts per minute) rather than a line. */
  bars?: boolean;
  dash?: number[];
}

export interface ChartSpec {
  /** Start of each minute, Unix seconds. */
  times: number[];
  series: ChartSeries[];
  unit?: string;
  height: number;
}

export interface Chart {
  update(spec: ChartSpec): void;
  resize(width: number): void;
  destroy(): void;
}

const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000];

/** The points of a series that no line reaches (no value on either side): drawn as dots. */
function isolated(u: uPlot, seriesIdx: number): number[] {
  const values = u.data[seriesIdx];
  const found: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] != null && values[i - 1] == null && values[i + 1] == null) found.push(i);
  }
  return found;
}

function options(spec: ChartSpec, width: number, onDrawn: () => void): uPlot.Options {
  const format = (value: number | null) => (value === null ? '—' : `${Number(value.toFixed(2)).toLocaleString('en-US')}${spec.unit ? ' ' + spec.unit : ''}`);
  return {
    width,
    height: spec.height,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      { stroke: '#4a5568', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#cbd5e0' }, space: 80 },
      { stroke: '#4a5568', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#cbd5e0' }, size: 56,
        // Counts have whole ticks: no 0.25 of an invocation.
        incrs: spec.unit ? undefined : WHOLE_STEPS,
        values: (_u, ticks) => ticks.map((tick) => tick.toLocaleString('en-US')) },
    ],
    series: [
      { label: 'Time' },
      ...spec.series.map((series) => ({
        label: series.label,
        stroke: series.color,
        width: 1.5,
        dash: series.dash,
        fill: series.bars ? series.color + '33' : undefined,
        paths: series.bars ? uPlot.paths.stepped?.({ align: 1 }) : undefined,
        points: { show: true, size: 6, fill: series.color, filter: isolated },
        spanGaps: false,
        value: (_u: uPlot, value: number | null) => format(value),
      })),
    ],
    hooks: { draw: [onDrawn] },
  };
}

const data = (spec: ChartSpec): uPlot.AlignedData => [spec.times, ...spec.series.map((series) => series.values)] as uPlot.AlignedData;

export function createChart(parent: HTMLElement, spec: ChartSpec, onDrawn: () => void): Chart {
  let shape = spec.series.map((s) => s.label).join();
  let plot = new uPlot(options(spec, parent.clientWidth || 600, onDrawn), data(spec), parent);
  return {
    update(next) {
      const nextShape = next.series.map((s) => s.label).join();
      if (nextShape === shape) {
        plot.setData(data(next));
      } else {
        plot.destroy();
        shape = nextShape;
        plot = new uPlot(options(next, parent.clientWidth || 600, onDrawn), data(next), parent);
      }
    },
    resize: (width) => plot.setSize({ width, height: plot.height }),
    destroy: () => plot.destroy(),
  };
}
