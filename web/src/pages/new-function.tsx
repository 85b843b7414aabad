// Creating a function: a name, a language, code from a template, and the settings.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { CodeSection, type Draft, type FieldErrors, fieldErrors, inputOf, newDraft, SettingsSection } from '../components/function-form';
import { asApiError, useAction } from '../hooks';
import { href, navigate } from '../router';

export function NewFunctionPage() {
  const [draft, setDraft] = useState<Draft>(() => newDraft('python', 'sandbox'));
  const [errors, setErrors] = useState<FieldErrors>({});
  const change = (patch: Partial<Draft>) => setDraft((current) => ({ ...current, ...patch }));

  const create = useAction(async () => {
    const checked = inputOf(draft);
    if ('errors' in checked) {
      setErrors(checked.errors);
      return;
    }
    try {
      const created = await api.createFunction(checked.input);
      navigate(href('functions', created.name, 'code'));
    } catch (e) {
      setErrors(fieldErrors(asApiError(e)));
    }
  });
  const submit = (event: Event) => {
    event.preventDefault();
    setErrors({});
    create.run();
  };

  return (
    <section aria-labelledby="new-title">
      <form onSubmit={submit} noValidate
        onKeyDown={(e) => {
          if ((e.ctrlKey || e.metaKey) && e.key === 's' && !e.defaultPrevented) {
            e.preventDefault();
            setErrors({});
            create.run();
          }
        }}>
        <div class="page-head">
          <h1 id="new-title">New function</h1>
          <div class="actions">
            <a class="button" href="#/functions">Cancel</a>
            <button type="submit" class="button button-primary" disabled={create.busy}>
              {create.busy ? 'Creating…' : 'Create function'}
            </button>
          </div>
        </div>
        {errors.form && <div class="notice notice-error" role="alert">{errors.form}</div>}
        <div class="editor-layout">
          <CodeSection draft={draft} errors={errors} change={change} onSave={() => { setErrors({}); create.run(); }} />
          <SettingsSection draft={draft} errors={errors} change={change} creating />
        </div>
      </form>
    </section>
  );
}
