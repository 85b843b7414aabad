// Editing a function: its code and every setting, as a draft of strings the form holds, turned
// into the API's input on save. The API checks everything; its message about a field is shown
// next to that field.
import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api';
import { api } from '../api';
import { useLoad } from '../hooks';
import type { FunctionInput, FunctionWithCode, Language, RuntimeKind } from '../types';
import { LANGUAGES, RUNTIMES, runtimeProblem } from '../types';
import { CodeEditor } from './editor';
import { described, Field } from './ui';

export interface EnvRow {
  key: string;
  value: string;
}

export interface Draft {
  name: string;
  language: Language;
  code: string;
  handler: string;
  route: string;
  timeout: string;
  memory_mb: string;
  env: EnvRow[];
  runtime: RuntimeKind;
  max_concurrency: string;
  min_warm: string;
  keep_alive_secs: string;
}

/** Messages per field (`name`, `timeout`, `env`, …); `form` for what concerns no one field. */
export type FieldErrors = Record<string, string | undefined>;

export const TEMPLATES: Record<Language, string> = {
  python: `def handler(event, context):
    name = event.get("name", "World")
    print(f"saying hello to {name}")
    return {"message": f"Hello, {name}!"}
`,
  javascript: `exports.handler = async (event, context) => {
  const name = event.name ?? 'World';
  console.log(\`saying hello to \${name}\`);
  return { message: \`Hello, \${name}!\` };
};
`,
};

export function newDraft(language: Language, runtime: RuntimeKind): Draft {
  return {
    name: '',
    language,
    code: TEMPLATES[language],
    handler: 'handler',
    route: '',
    timeout: '30',
    memory_mb: '128',
    env: [],
    runtime,
    max_concurrency: '',
    min_warm: '0',
    keep_alive_secs: '',
  };
}

export function draftOf(f: FunctionWithCode): Draft {
  return {
    name: f.name,
    language: f.language,
    code: f.code,
    handler: f.handler,
    route: f.route ?? '',
    timeout: String(f.timeout),
    memory_mb: String(f.memory_mb),
    env: Object.entries(f.env).map(([key, value]) => ({ key, value })),
    runtime: f.runtime,
    max_concurrency: f.max_concurrency === null ? '' : String(f.max_concurrency),
    min_warm: String(f.min_warm),
    keep_alive_secs: f.keep_alive_secs === null ? '' : String(f.keep_alive_secs),
  };
}

/** A whole number the user typed; `NaN` for anything else, so that the API explains. */
const whole = (text: string) => (/^\s*-?\d+\s*$/.test(text) ? Number(text) : Number.NaN);
const optionalWhole = (text: string) => (text.trim() === '' ? null : whole(text));

/** The API input for a draft, or the problems the form finds by itself (in the env rows). */
export function inputOf(draft: Draft): { input: FunctionInput } | { errors: FieldErrors } {
  const env: Record<string, string> = {};
  for (const [i, row] of draft.env.entries()) {
    const key = row.key.trim();
    if (!key && !row.value) continue;
    if (!key) return { errors: { env: `Variable ${i + 1} has a value but no name.` } };
    if (key in env) return { errors: { env: `${key} is set twice.` } };
    env[key] = row.value;
  }
  const numbers = { timeout: whole(draft.timeout), memory_mb: whole(draft.memory_mb), min_warm: whole(draft.min_warm) };
  for (const [field, value] of Object.entries(numbers)) {
    if (Number.isNaN(value)) return { errors: { [field]: 'Enter a whole number.' } };
  }
  const optional = { max_concurrency: optionalWhole(draft.max_concurrency), keep_alive_secs: optionalWhole(draft.keep_alive_secs) };
  for (const [field, value] of Object.entries(optional)) {
    if (Number.isNaN(value)) return { errors: { [field]: 'Enter a whole number, or leave it empty for the server’s default.' } };
  }
  return {
    input: {
      name: draft.name.trim(),
      language: draft.language,
      code: draft.code,
      handler: draft.handler.trim(),
      route: draft.route.trim() === '' ? null : draft.route.trim(),
      ...numbers,
      ...optional,
      env,
      runtime: draft.runtime,
    },
  };
}

/** Where the API's refusal belongs in the form. */
export function fieldErrors(error: ApiError): FieldErrors {
  return { [error.field ?? 'form']: error.message };
}

interface SectionProps {
  draft: Draft;
  errors: FieldErrors;
  change: (patch: Partial<Draft>) => void;
}

export function CodeSection({ draft, errors, change, onSave }: SectionProps & { onSave: () => void }) {
  return (
    <div class="code-section">
      <div class={'field' + (errors.code ? ' field-invalid' : '')}>
        <span class="label" id="code-label">Code</span>
        <CodeEditor
          id="code"
          doc={draft.code}
          language={draft.language}
          label={`Function code (${draft.language === 'python' ? 'Python' : 'JavaScript'})`}
          onChange={(code) => change({ code })}
          onSave={onSave}
        />
        {errors.code
          ? <p class="field-error" role="alert">{errors.code}</p>
          : <p class="hint">Tab indents. Press Escape, then Tab, to leave the editor. Ctrl+S (⌘S) saves.</p>}
      </div>
    </div>
  );
}

function TextField({ id, label, value, error, hint, onInput, placeholder, inputMode }: {
  id: keyof Draft;
  label: string;
  value: string;
  error?: string;
  hint?: ComponentChildren;
  onInput: (value: string) => void;
  placeholder?: string;
  inputMode?: 'numeric';
}) {
  return (
    <Field id={`f-${id}`} label={label} error={error} hint={hint}>
      <input id={`f-${id}`} name={id} type="text" value={value} placeholder={placeholder} inputMode={inputMode}
        spellcheck={false} {...described(`f-${id}`, error, Boolean(hint))}
        onInput={(e) => onInput(e.currentTarget.value)} />
    </Field>
  );
}

export function SettingsSection({ draft, errors, change, creating }: SectionProps & { creating: boolean }) {
  const health = useLoad(api.health, []);
  const cannot = (runtime: RuntimeKind) => runtimeProblem(health.data, runtime, draft.language);
  const number = (id: 'timeout' | 'memory_mb' | 'max_concurrency' | 'min_warm' | 'keep_alive_secs', label: string, hint: string, placeholder?: string) => (
    <TextField id={id} label={label} value={draft[id]} error={errors[id]} hint={hint} inputMode="numeric"
      placeholder={placeholder} onInput={(value) => change({ [id]: value })} />
  );
  return (
    <div class="settings">
      {creating && (
        <TextField id="name" label="Name" value={draft.name} error={errors.name}
          hint="Letters, digits, - and _; up to 64 characters." onInput={(name) => change({ name })} />
      )}
      <Field id="f-language" label="Language" error={errors.language}>
        <select id="f-language" name="language" value={draft.language} {...described('f-language', errors.language)}
          onChange={(e) => {
            const language = e.currentTarget.value as Language;
            const untouched = creating && draft.code === TEMPLATES[draft.language];
            change(untouched ? { language, code: TEMPLATES[language] } : { language });
          }}>
          {LANGUAGES.map((language) => (
            <option key={language} value={language}>{language === 'python' ? 'Python' : 'JavaScript'}</option>
          ))}
        </select>
      </Field>
      <TextField id="handler" label="Handler" value={draft.handler} error={errors.handler}
        hint="The function the code defines and Kindling calls. Code without it runs as a script."
        onInput={(handler) => change({ handler })} />
      <TextField id="route" label="Route" value={draft.route} error={errors.route} placeholder="/hello"
        hint={<>Serves the function over plain HTTP at <code>/run{draft.route.trim() || '/…'}</code>. Optional.</>}
        onInput={(route) => change({ route })} />
      <Field id="f-runtime" label="Runtime" error={errors.runtime}
        hint={cannot(draft.runtime) ? `It cannot run here now: ${cannot(draft.runtime)}` : 'Where instances of the function run.'}>
        <select id="f-runtime" name="runtime" value={draft.runtime} {...described('f-runtime', errors.runtime, true)}
          onChange={(e) => change({ runtime: e.currentTarget.value as RuntimeKind })}>
          {RUNTIMES.map((runtime) => (
            <option key={runtime} value={runtime}>
              {runtime}{cannot(runtime) ? ' (unavailable here)' : ''}
            </option>
          ))}
        </select>
      </Field>
      <div class="field-row">
        {number('timeout', 'Timeout (seconds)', '1 to 900.')}
        {number('memory_mb', 'Memory (MB)', '64 to 10240; the instance is killed beyond it.')}
      </div>
      <div class="field-row">
        {number('max_concurrency', 'Max concurrency', 'Invocations at once; empty: the server’s default.', 'default')}
        {number('min_warm', 'Min warm', 'Instances kept ready at all times.')}
        {number('keep_alive_secs', 'Keep-alive (seconds)', 'How long an idle instance waits; empty: default.', 'default')}
      </div>
      <EnvEditor rows={draft.env} error={errors.env} onChange={(env) => change({ env })} />
    </div>
  );
}

function EnvEditor({ rows, error, onChange }: { rows: EnvRow[]; error?: string; onChange: (rows: EnvRow[]) => void }) {
  const set = (i: number, patch: Partial<EnvRow>) => onChange(rows.map((row, j) => (j === i ? { ...row, ...patch } : row)));
  return (
    <fieldset class={'env' + (error ? ' env-invalid' : '')} aria-describedby={error ? 'env-error' : undefined}>
      <legend>Environment variables</legend>
      {rows.length === 0 && <p class="muted">None. The function sees only these, never the server’s own.</p>}
      {rows.map((row, i) => (
        <div class="env-row" key={i}>
          <label class="visually-hidden" for={`env-key-${i}`}>Name of variable {i + 1}</label>
          <input id={`env-key-${i}`} class="env-key" placeholder="NAME" value={row.key} spellcheck={false}
            onInput={(e) => set(i, { key: e.currentTarget.value })} />
          <label class="visually-hidden" for={`env-value-${i}`}>Value of variable {i + 1}</label>
          <input id={`env-value-${i}`} class="env-value" placeholder="value" value={row.value} spellcheck={false}
            onInput={(e) => set(i, { value: e.currentTarget.value })} />
          <button type="button" class="button button-quiet" aria-label={`Remove variable ${row.key || i + 1}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}>Remove</button>
        </div>
      ))}
      {error && <p class="field-error" id="env-error" role="alert">{error}</p>}
      <button type="button" class="button" onClick={() => onChange([...rows, { key: '', value: '' }])}>Add variable</button>
    </fieldset>
  );
}
