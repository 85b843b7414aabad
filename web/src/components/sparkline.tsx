// A tiny line of counts per bucket, drawn as SVG (hundreds of them on one page stay cheap).

const WIDTH = 96;
const HEIGHT = 24;

export function Sparkline({ values, failures, label }: { values: number[]; failures?: number[]; label: string }) {
  const peak = Math.max(1, ...values);
  const step = values.length > 1 ? WIDTH / (values.length - 1) : WIDTH;
  const y = (value: number) => (HEIGHT - 2 - (value / peak) * (HEIGHT - 4)).toFixed(1);
  const line = (series: number[]) => series.map((value, i) => `${(i * step).toFixed(1)},${y(value)}`).join(' ');
  return (
    <svg class="sparkline" width={WIDTH} height={HEIGHT} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label}>
      <polyline class="sparkline-all" points={line(values)} />
      {failures && failures.some((n) => n > 0) && <polyline class="sparkline-failed" points={line(failures)} />}
    </svg>
  );
}
