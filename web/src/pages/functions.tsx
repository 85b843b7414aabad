// Every function the user has: what it is, how it did over the last 24 hours, searchable.
import { useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { Sparkline } from '../components/sparkline';
import { Empty, ErrorNotice, Loading, StatusBadge, Table } from '../components/ui';
import { ago, count, percent, plural, time } from '../format';
import { useLoad } from '../hooks';
import { href } from '../router';
import type { FunctionActivity, FunctionInfo } from '../types';

const HOURS = 24;

export function FunctionsPage() {
  const functions = useLoad(api.functions, [], 15_000);
  const activity = useLoad(() => api.activity(`${HOURS}h`, HOURS), [], 15_000);
  const [search, setSearch] = useState('');

  const byId = useMemo(() => {
    const map = new Map<string, FunctionActivity>();
    for (const entry of activity.data?.functions ?? []) map.set(entry.function_id, entry);
    return map;
  }, [activity.data]);

  const shown = useMemo(() => {
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    return (functions.data ?? []).filter((f) => {
      const text = `${f.name} ${f.language} ${f.runtime} ${f.route ?? ''}`.toLowerCase();
      return words.every((word) => text.includes(word));
    });
  }, [functions.data, search]);

  return (
    <section aria-labelledby="functions-title">
      <div class="page-head">
        <h1 id="functions-title">Functions</h1>
        <a class="button button-primary" href="#/new-function">New function</a>
      </div>
      <ErrorNotice error={functions.error} title="Cannot list the functions" />
      {functions.data === undefined ? (functions.error ? null : <Loading what="Loading the functions" />)
        : functions.data.length === 0 ? <FirstFunction /> : (
          <>
            <div class="toolbar">
              <label class="search">
                <span class="visually-hidden">Search functions</span>
                <input type="search" placeholder="Name, language, runtime or route" value={search}
                  onInput={(e) => setSearch(e.currentTarget.value)} />
              </label>
              <span class="muted" role="status">
                {shown.length === functions.data.length
                  ? plural(functions.data.length, 'function')
                  : `${count(shown.length)} of ${plural(functions.data.length, 'function')}`}
              </span>
            </div>
            <ErrorNotice error={activity.error} title="Cannot read the last 24 hours" />
            <Table columns={[
              { label: 'Name' },
              { label: 'Language' },
              { label: 'Runtime' },
              { label: 'Version', numeric: true },
              { label: 'Route' },
              { label: 'Last invocation' },
              { label: 'Invocations (24 h)', numeric: true },
              { label: 'Error rate', numeric: true },
              { label: 'Last 24 hours' },
            ]}>
              {shown.map((f) => <Row key={f.id} function={f} activity={byId.get(f.id)} />)}
            </Table>
            {shown.length === 0 && <p class="muted">No function matches “{search}”.</p>}
          </>
        )}
    </section>
  );
}

function Row({ function: f, activity }: { function: FunctionInfo; activity?: FunctionActivity }) {
  const invocations = activity?.invocations.reduce((a, b) => a + b, 0) ?? 0;
  const failures = activity?.failures.reduce((a, b) => a + b, 0) ?? 0;
  return (
    <tr>
      <th scope="row"><a href={href('functions', f.name)}>{f.name}</a></th>
      <td>{f.language === 'python' ? 'Python' : 'JavaScript'}</td>
      <td>{f.runtime}</td>
      <td class="num">{f.version}</td>
      <td>{f.route ? <code>{f.route}</code> : <span class="muted">—</span>}</td>
      <td>
        <StatusBadge status={activity?.last_status} />{' '}
        {activity?.last_started_at && <span class="muted" title={time(activity.last_started_at)}>{ago(activity.last_started_at)}</span>}
      </td>
      <td class="num">{count(invocations)}</td>
      <td class="num">{invocations ? percent(failures / invocations) : '—'}</td>
      <td>
        {activity
          ? <Sparkline values={activity.invocations} failures={activity.failures}
              label={`${invocations} invocations and ${failures} failures per hour over the last 24 hours`} />
          : <span class="muted">—</span>}
      </td>
    </tr>
  );
}

function FirstFunction() {
  return (
    <Empty title="No functions yet">
      <p>A function is a Python or JavaScript handler that Kindling runs in an isolated instance whenever it is invoked.</p>
      <p><a class="button button-primary" href="#/new-function">Create your first function</a></p>
      <p class="muted">Or from a terminal: <code>kindling fn create hello --file hello.py</code></p>
    </Empty>
  );
}
