// One function: its code and configuration (saving makes a new version), invoking it, its
// invocations, its metrics and its versions. The sections are links (#/functions/NAME/SECTION);
// unsaved edits survive moving between them.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import {
  CodeSection, type Draft, draftOf, type FieldErrors, fieldErrors, inputOf, SettingsSection,
} from '../components/function-form';
import { InvocationList } from '../components/invocation-list';
import { InvokePanel } from '../components/invoke-panel';
import { MetricsView, WindowPicker } from '../components/metrics-view';
import { Confirm, ErrorNotice, Loading } from '../components/ui';
import { VersionList } from '../components/version-list';
import { time } from '../format';
import { asApiError, useAction, useLoad } from '../hooks';
import { href, navigate, type Route, useLeaveGuard } from '../router';
import type { FunctionWithCode } from '../types';

const TABS = [
  { id: 'code', label: 'Code' },
  { id: 'configuration', label: 'Configuration' },
  { id: 'test', label: 'Test' },
  { id: 'invocations', label: 'Invocations' },
  { id: 'metrics', label: 'Metrics' },
  { id: 'versions', label: 'Versions' },
];

export function FunctionPage({ name, tab = 'code' }: { name: string; tab?: string }) {
  const loaded = useLoad(() => api.function(name), [name]);
  const [saved, setSaved] = useState<FunctionWithCode | undefined>(undefined);
  const [draft, setDraft] = useState<Draft | undefined>(undefined);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [confirming, setConfirming] = useState(false);
  const [metricsWindow, setMetricsWindow] = useState('24h');

  useEffect(() => {
    if (loaded.data) {
      setSaved(loaded.data);
      setDraft(draftOf(loaded.data));
    }
  }, [loaded.data]);

  const dirty = useMemo(() => {
    if (!saved || !draft) return false;
    return JSON.stringify(draft) !== JSON.stringify(draftOf(saved));
  }, [saved, draft]);

  const save = useAction(async () => {
    if (!draft || !saved) return;
    setErrors({});
    setMessage(undefined);
    const checked = inputOf(draft);
    if ('errors' in checked) {
      setErrors(checked.errors);
      if (tab === 'code') navigate(href('functions', name, 'configuration'));
      return;
    }
    try {
      const updated = await api.updateFunction(saved.name, checked.input);
      setSaved(updated);
      setDraft(draftOf(updated));
      setMessage(`Saved as version ${updated.version}.`);
    } catch (e) {
      const found = fieldErrors(asApiError(e));
      setErrors(found);
      const onCode = 'code' in found;
      if (!('form' in found) && onCode !== (tab === 'code')) {
        navigate(href('functions', name, onCode ? 'code' : 'configuration'));
      }
    }
  });
  const deleted = useRef(false);
  const remove = useAction(async () => {
    if (!saved) return;
    await api.deleteFunction(saved.name);
    deleted.current = true;
    navigate('#/functions');
  });

  // Unsaved changes are not lost by leaving the page without a word.
  const guard = useCallback(
    (next: Route) => deleted.current || (next.parts[0] === 'functions' && next.parts[1] === name)
      || window.confirm(`${name} has unsaved changes. Leave, and lose them?`),
    [name],
  );
  useLeaveGuard(dirty ? guard : null);
  useEffect(() => {
    if (!dirty) return undefined;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty]);

  // Ctrl+S (⌘S) saves from anywhere on the page, not only inside the editor.
  useEffect(() => {
    const key = (event: KeyboardEvent) => {
      // The editor handles its own Ctrl+S (and says so by preventing the default).
      if ((event.ctrlKey || event.metaKey) && event.key === 's' && !event.defaultPrevented) {
        event.preventDefault();
        if (dirty) save.run();
      }
    };
    document.addEventListener('keydown', key);
    return () => document.removeEventListener('keydown', key);
  }, [dirty, save.run]);

  if (loaded.error) {
    return (
      <section>
        <h1>{name}</h1>
        <ErrorNotice error={loaded.error} />
        <a href="#/functions">Back to the functions</a>
      </section>
    );
  }
  if (!saved || !draft) return <Loading what={`Loading ${name}`} />;
  const change = (patch: Partial<Draft>) => {
    setMessage(undefined);
    setDraft((current) => (current ? { ...current, ...patch } : current));
  };

  return (
    <section aria-labelledby="function-title">
      <div class="page-head">
        <div>
          <p class="crumbs"><a href="#/functions">Functions</a> /</p>
          <h1 id="function-title">{saved.name}</h1>
          <p class="muted">
            {saved.language === 'python' ? 'Python' : 'JavaScript'} · {saved.runtime} · version {saved.version} · updated {time(saved.updated_at)}
            {saved.route && <> · <a href={`/run${saved.route}`}><code>/run{saved.route}</code></a></>}
          </p>
        </div>
        <div class="actions">
          <span class="muted" role="status">{dirty ? 'Unsaved changes' : message}</span>
          <button type="button" class="button button-primary" aria-disabled={!dirty || save.busy}
            onClick={() => { if (dirty && !save.busy) save.run(); }}>
            {save.busy ? 'Saving…' : 'Save'}
          </button>
          <button type="button" class="button button-danger" onClick={() => setConfirming(true)}>Delete</button>
        </div>
      </div>
      <nav class="tabs" aria-label="Function sections">
        {TABS.map(({ id, label }) => (
          <a key={id} href={href('functions', saved.name, id)} aria-current={tab === id ? 'page' : undefined}>{label}</a>
        ))}
      </nav>
      {errors.form && <div class="notice notice-error" role="alert">{errors.form}</div>}
      <div class="tab-body">
        {tab === 'code' && <CodeSection draft={draft} errors={errors} change={change} onSave={() => save.run()} />}
        {tab === 'configuration' && (
          <form noValidate onSubmit={(e) => { e.preventDefault(); save.run(); }}>
            <SettingsSection draft={draft} errors={errors} change={change} creating={false} />
            <button type="submit" class="button button-primary" disabled={!dirty || save.busy}>Save configuration</button>
          </form>
        )}
        {/* Kept while another section shows: its event, and an answer still coming, stay. */}
        <div hidden={tab !== 'test'}><InvokePanel function={saved} /></div>
        {tab === 'invocations' && <InvocationList fixedFunction={saved.name} />}
        {tab === 'metrics' && (
          <>
            <WindowPicker value={metricsWindow} onChange={setMetricsWindow} />
            <MetricsView functionName={saved.name} window={metricsWindow} />
          </>
        )}
        {tab === 'versions' && (
          <VersionList function={saved} onRestored={(updated) => {
            setSaved(updated);
            setDraft(draftOf(updated));
            setMessage(`Restored as version ${updated.version}.`);
          }} />
        )}
        {!TABS.some(({ id }) => id === tab) && <p>There is no section “{tab}”. <a href={href('functions', saved.name)}>Show the code</a>.</p>}
      </div>
      <Confirm open={confirming} title={`Delete ${saved.name}?`} confirm="Delete function" busy={remove.busy}
        onCancel={() => setConfirming(false)} onConfirm={() => remove.run()}>
        <p>Its instances are stopped and it can no longer be invoked. Its invocation history stays.</p>
        <ErrorNotice error={remove.error} />
      </Confirm>
    </section>
  );
}
