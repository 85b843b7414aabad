// Invocation history, newest first, filtered by status (and function), paged back in time. The
// newest page refreshes by itself, so new invocations appear without a reload.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ago, duration, STATUS_LABELS, time } from '../format';
import { useLoad } from '../hooks';
import { href } from '../router';
import type { Status } from '../types';
import { STATUSES } from '../types';
import { Empty, ErrorNotice, Loading, StatusBadge, Table } from './ui';

const PAGE = 50;
const REFRESH_MS = 3000;

export interface Filter {
  function: string;
  status: Status | '';
}

export function InvocationList({ fixedFunction, initial, onFilter }: {
  fixedFunction?: string;
  initial?: Partial<Filter>;
  /** Told of every change of the filter (to keep it in the address). */
  onFilter?: (filter: Filter) => void;
}) {
  const [filter, setFilter] = useState<Filter>({ function: fixedFunction ?? initial?.function ?? '', status: initial?.status ?? '' });
  // The start times of the pages before this one: `before` cursors for going back.
  const [cursors, setCursors] = useState<string[]>([]);
  const before = cursors[cursors.length - 1];
  const page = useLoad(
    () => api.invocations({ function: filter.function, status: filter.status, before, limit: PAGE }),
    [filter.function, filter.status, before],
    before ? undefined : REFRESH_MS,
  );
  const functions = useLoad(() => (fixedFunction ? Promise.resolve([]) : api.functions()), [fixedFunction]);
  const change = (patch: Partial<Filter>) => {
    setCursors([]);
    const next = { ...filter, ...patch };
    setFilter(next);
    onFilter?.(next);
  };
  const rows = page.data ?? [];
  const id = fixedFunction ? 'fn-inv' : 'inv';

  return (
    <div class="invocation-list">
      <div class="toolbar">
        {!fixedFunction && (
          <label>
            Function{' '}
            <select id={`${id}-function`} value={filter.function} onChange={(e) => change({ function: e.currentTarget.value })}>
              <option value="">All functions</option>
              {(functions.data ?? []).map((f) => <option key={f.id} value={f.name}>{f.name}</option>)}
            </select>
          </label>
        )}
        <label>
          Status{' '}
          <select id={`${id}-status`} value={filter.status} onChange={(e) => change({ status: e.currentTarget.value as Status | '' })}>
            <option value="">Any status</option>
            {STATUSES.map((status) => <option key={status} value={status}>{STATUS_LABELS[status]}</option>)}
          </select>
        </label>
        <span class="muted" aria-live="polite">
          {before ? 'Older invocations' : 'Newest first, refreshed every few seconds'}
        </span>
      </div>
      <ErrorNotice error={page.error} title="Cannot list the invocations" />
      {page.data === undefined ? (page.error ? null : <Loading what="Loading the invocations" />)
        : rows.length === 0 && !before ? (
          filter.status || (filter.function && !fixedFunction)
            ? <Empty title="No invocations match"><p>None of the invocations you may see has this function and status.</p></Empty>
            : (
              <Empty title="No invocations yet">
                <p>Invoke a function and its invocations appear here, with their results, logs and timings.</p>
              </Empty>
            )
        ) : (
          <Table columns={[
            { label: 'Started' },
            ...(fixedFunction ? [] : [{ label: 'Function' }]),
            { label: 'Status' },
            { label: 'Start' },
            { label: 'Duration', numeric: true },
            { label: 'Version', numeric: true },
            { label: 'Runtime' },
            { label: 'Details' },
          ]}>
                {rows.map((invocation) => (
                  <tr key={invocation.invocation_id}>
                    <td title={time(invocation.started_at)}>{ago(invocation.started_at)}</td>
                    {!fixedFunction && <td>{invocation.function_name}</td>}
                    <td><StatusBadge status={invocation.status} /></td>
                    <td>{invocation.start ?? '—'}</td>
                    <td class="num">{duration(invocation.duration_ms)}</td>
                    <td class="num">{invocation.version}</td>
                    <td>{invocation.runtime}</td>
                    <td>
                      <a href={href('invocations', invocation.invocation_id)}
                        aria-label={`View the ${invocation.function_name} invocation of ${ago(invocation.started_at)}`}>
                        View
                      </a>
                    </td>
                  </tr>
                ))}
          </Table>
        )}
      <div class="pager">
        <button type="button" class="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" class="button" disabled={rows.length < PAGE}
          onClick={() => setCursors([...cursors, rows[rows.length - 1].started_at])}>
          Older
        </button>
      </div>
    </div>
  );
}
