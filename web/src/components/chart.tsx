// A time chart as a component: uPlot arrives in its own chunk the first time one shows. A
// sentence under it says what it shows, for those who cannot see it.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Chart, ChartSpec } from '../lib/charts';

export function TimeChart({ title, summary, spec }: { title: string; summary: string; spec: ChartSpec }) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<Chart | null>(null);
  const latest = useRef(spec);
  latest.current = spec;
  const [failed, setFailed] = useState<string | null>(null);

  // When the data last changed: the chart notes how long it took to draw them (data-drawn-ms),
  // for the dashboard's benchmark and tests.
  const since = useRef(performance.now());

  useEffect(() => {
    let gone = false;
    let observer: ResizeObserver | undefined;
    import('../lib/charts').then(({ createChart }) => {
      const element = host.current;
      if (gone || !element) return;
      chart.current = createChart(element, latest.current, () => {
        element.dataset.drawnMs = (performance.now() - since.current).toFixed(1);
      });
      observer = new ResizeObserver(([entry]) => chart.current?.resize(Math.floor(entry.contentRect.width)));
      observer.observe(element);
    }, (e: Error) => setFailed(e.message));
    return () => {
      gone = true;
      observer?.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    if (!chart.current) return;
    since.current = performance.now();
    chart.current.update(spec);
  }, [spec]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      {failed
        ? <p class="notice notice-error" role="alert">The chart did not load: {failed}</p>
        : <div class="chart-canvas" ref={host} />}
      <p class="visually-hidden">{summary}</p>
    </figure>
  );
}
