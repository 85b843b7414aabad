// Loading data for a page: one request's state, and refreshing it while the page is visible.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** Loads again; the data shown stays until the new answer arrives. */
  reload: () => Promise<void>;
}

/**
 * Calls `load` when `deps` change (and every `refreshMs` while the tab is visible, if given) and
 * keeps its latest answer. An answer that arrives after a newer request started is dropped.
 * When `deps` change the old answer is dropped at once, unless `keep`: then it stays shown
 * until the new one arrives (the same thing seen over another time window, say).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number, keep = false): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  // A refresh is skipped while the previous request is still out: a slow answer is shown late
  // rather than never, and requests do not pile up.
  const busy = useRef(false);
  const loader = useRef(load);
  loader.current = load;

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    busy.current = true;
    setLoading(true);
    try {
      const answer = await loader.current();
      if (mine === generation.current) {
        setData(answer);
        setError(undefined);
      }
    } catch (e) {
      if (mine === generation.current) setError(asApiError(e));
    } finally {
      if (mine === generation.current) {
        busy.current = false;
        setLoading(false);
      }
    }
  }, []);

  useEffect(() => {
    if (!keep) setData(undefined);
    reload();
  }, deps);

  useEffect(() => {
    if (!refreshMs) return undefined;
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible' && !busy.current) reload();
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [refreshMs, ...deps]);

  return { data, error, loading, reload };
}

export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'client', e instanceof Error ? e.message : String(e));
}

/** Runs an action (a save, a delete) and keeps whether it runs and how it failed. */
export function useAction<A extends unknown[], T>(action: (...args: A) => Promise<T>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const run = useCallback(async (...args: A): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await action(...args);
    } catch (e) {
      setError(asApiError(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, [action]);
  return { run, busy, error, setError };
}
