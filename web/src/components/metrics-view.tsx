// Figures and per-minute charts over a window, of one function or of all of them: invocations and
// cold starts, errors/timeouts/throttles, duration p50/p95.
import { useMemo } from 'preact/hooks';
import { api } from '../api';
import { count, duration, percent, plural } from '../format';
import { useLoad } from '../hooks';
import type { ChartSpec } from '../lib/charts';
import type { Stats, TimeSeries } from '../types';
import { TimeChart } from './chart';
import { ErrorNotice, Loading, Pair, Stat } from './ui';

/** The windows on offer, and how often their figures are read again: a longer window costs
 *  more to add up and changes less from one minute to the next. */
export const WINDOWS = [
  { value: '1h', label: 'Last hour', minutes: 60, refreshMs: 10_000 },
  { value: '24h', label: 'Last 24 hours', minutes: 1440, refreshMs: 30_000 },
  { value: '7d', label: 'Last 7 days', minutes: 10_080, refreshMs: 120_000 },
];

const COLORS = {
  invocations: '#2b6cb0',
  cold: '#c05621',
  errors: '#c53030',
  timeouts: '#6b46c1',
  memory: '#b83280',
  throttles: '#b7791f',
  p50: '#2f855a',
  p95: '#c05621',
};

/** Every minute of the window, with zero counts (and no durations) where nothing ran. */
export function minutes(series: TimeSeries, windowMinutes: number) {
  const until = Math.floor(new Date(series.window.until).getTime() / 60_000);
  const first = until - windowMinutes + 1;
  const times: number[] = [];
  for (let minute = first; minute <= until; minute++) times.push(minute * 60);
  const empty = () => new Array<number>(times.length).fill(0);
  const gaps = () => new Array<number | null>(times.length).fill(null);
  const columns = {
    invocations: empty(), cold: empty(), errors: empty(), timeouts: empty(), memory: empty(), throttles: empty(),
    p50: gaps(), p95: gaps(),
  };
  for (const point of series.points) {
    const i = Math.floor(new Date(point.start).getTime() / 60_000) - first;
    if (i < 0 || i >= times.length) continue;
    columns.invocations[i] = point.invocations;
    columns.cold[i] = point.cold_starts;
    columns.errors[i] = point.errors;
    columns.timeouts[i] = point.timeouts;
    columns.memory[i] = point.out_of_memory + point.crashes;
    columns.throttles[i] = point.throttles;
    columns.p50[i] = point.duration_ms_p50;
    columns.p95[i] = point.duration_ms_p95;
  }
  return { times, ...columns };
}

function Figures({ stats }: { stats: Stats }) {
  const failures = stats.errors + stats.timeouts + stats.out_of_memory + stats.crashes;
  return (
    <div class="stats">
      <Stat label="Invocations" value={count(stats.invocations)} detail={`${count(failures)} failed`} />
      <Stat label="Success rate" value={percent(stats.success_rate)}
        detail={`${plural(stats.errors, 'error')} · ${plural(stats.timeouts, 'timeout')} · ${count(stats.out_of_memory)} out of memory · ${count(stats.crashes)} crashed`} />
      <Stat label="Duration p50 / p95" value={<Pair first={duration(stats.duration_ms.p50)} second={duration(stats.duration_ms.p95)} />}
        detail={`p99 ${duration(stats.duration_ms.p99)} · max ${duration(stats.duration_ms.max)}`} />
      <Stat label="Throttles" value={count(stats.throttles)} detail="refused at the concurrency limit" />
      <Stat label="Starts" value={`${count(stats.starts.warm)} warm`}
        detail={`${count(stats.starts.prewarmed)} pre-warmed · ${count(stats.starts.cold)} cold · init ${duration(stats.init_ms_mean)} mean`} />
    </div>
  );
}

const peak = (values: (number | null)[]) => values.reduce<number>((max, v) => (v !== null && v > max ? v : max), 0);
const total = (values: number[]) => values.reduce((a, b) => a + b, 0);

export function MetricsView({ functionName, window }: { functionName?: string; window: string }) {
  const { minutes: windowMinutes, refreshMs } = WINDOWS.find((w) => w.value === window) ?? WINDOWS[1];
  const stats = useLoad<Stats>(
    () => (functionName ? api.functionMetrics(functionName, window) : api.summary(window).then((s) => s.totals)),
    [functionName, window],
    refreshMs,
    true,
  );
  const series = useLoad(() => api.timeSeries(window, functionName), [functionName, window], refreshMs, true);

  const charts = useMemo(() => {
    if (!series.data) return undefined;
    const m = minutes(series.data, windowMinutes);
    const spec = (s: ChartSpec['series'], unit?: string): ChartSpec => ({ times: m.times, series: s, unit, height: 200 });
    const label = WINDOWS.find((w) => w.value === window)?.label.toLowerCase() ?? window;
    return [
      {
        title: 'Invocations per minute',
        summary: `${plural(total(m.invocations), 'invocation')} and ${plural(total(m.cold), 'cold start')} over the ${label}; at most ${peak(m.invocations)} in one minute.`,
        spec: spec([
          { label: 'Invocations', color: COLORS.invocations, values: m.invocations, bars: true },
          { label: 'Cold starts', color: COLORS.cold, values: m.cold },
        ]),
      },
      {
        title: 'Failures and throttles per minute',
        summary: `${plural(total(m.errors), 'error')}, ${plural(total(m.timeouts), 'timeout')}, ${total(m.memory)} out-of-memory or crashed, and ${plural(total(m.throttles), 'throttle')} over the ${label}.`,
        spec: spec([
          { label: 'Errors', color: COLORS.errors, values: m.errors },
          { label: 'Timeouts', color: COLORS.timeouts, values: m.timeouts },
          { label: 'Out of memory / crashed', color: COLORS.memory, values: m.memory },
          { label: 'Throttles', color: COLORS.throttles, values: m.throttles, dash: [4, 3] },
        ]),
      },
      {
        title: 'Duration per minute (ms)',
        summary: `The median duration of a minute's invocations peaked at ${duration(peak(m.p50))} and the 95th percentile at ${duration(peak(m.p95))} over the ${label}.`,
        spec: spec([
          { label: 'p50', color: COLORS.p50, values: m.p50 },
          { label: 'p95', color: COLORS.p95, values: m.p95, dash: [4, 3] },
        ], 'ms'),
      },
    ];
  }, [series.data, window, windowMinutes]);

  return (
    <div class="metrics">
      <ErrorNotice error={stats.error} title="Cannot read the figures" />
      {stats.data ? <Figures stats={stats.data} /> : !stats.error && <Loading what="Adding up the invocations" />}
      {stats.data && stats.data.invocations === 0 && stats.data.throttles === 0 && (
        <p class="notice" role="status">Nothing ran in this window. Invoke a function and its figures and charts fill in here.</p>
      )}
      <ErrorNotice error={series.error} title="Cannot read the time series" />
      {charts
        ? <div class="charts">{charts.map((chart) => <TimeChart key={chart.title} {...chart} />)}</div>
        : !series.error && <Loading what="Loading the charts" />}
    </div>
  );
}

/** The window picker, as radio buttons. */
export function WindowPicker({ value, onChange }: { value: string; onChange: (window: string) => void }) {
  return (
    <fieldset class="segmented">
      <legend class="visually-hidden">Time window</legend>
      {WINDOWS.map((w) => (
        <label key={w.value} class={value === w.value ? 'selected' : ''}>
          <input type="radio" name="window" value={w.value} checked={value === w.value} onChange={() => onChange(w.value)} />
          {w.label}
        </label>
      ))}
    </fieldset>
  );
}
