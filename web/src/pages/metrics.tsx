// Metrics of all functions, or of one: #/metrics?function=NAME&window=24h.
import { api } from '../api';
import { MetricsView, WINDOWS, WindowPicker } from '../components/metrics-view';
import { useLoad } from '../hooks';
import { navigate, type Route } from '../router';

export function MetricsPage({ route }: { route: Route }) {
  const chosen = route.params.get('function') ?? '';
  const span = WINDOWS.some((w) => w.value === route.params.get('window')) ? route.params.get('window') as string : '24h';
  const functions = useLoad(api.functions, []);
  const go = (next: { function?: string; window?: string }) => {
    const params = new URLSearchParams({ window: span, ...(chosen ? { function: chosen } : {}), ...next });
    if (!params.get('function')) params.delete('function');
    navigate(`#/metrics?${params}`, true);
  };
  return (
    <section aria-labelledby="metrics-title">
      <div class="page-head">
        <h1 id="metrics-title">Metrics</h1>
      </div>
      <div class="toolbar">
        <label>
          Function{' '}
          <select value={chosen} onChange={(e) => go({ function: e.currentTarget.value })}>
            <option value="">All functions</option>
            {(functions.data ?? []).map((f) => <option key={f.id} value={f.name}>{f.name}</option>)}
          </select>
        </label>
        <WindowPicker value={span} onChange={(next) => go({ window: next })} />
      </div>
      <MetricsView key={chosen} functionName={chosen || undefined} window={span} />
    </section>
  );
}
