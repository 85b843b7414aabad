// Invoking a function from the page: an event (checked as JSON before it is sent), script
// arguments, a runtime, and the answer in full.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useLoad } from '../hooks';
import type { FunctionInfo, Invocation, RuntimeKind } from '../types';
import { RUNTIMES } from '../types';
import { InvocationView } from './invocation-view';
import { described, ErrorNotice, Field } from './ui';

/** Where JSON.parse stopped, in words. */
function parseEvent(text: string): { event: unknown } | { problem: string } {
  if (text.trim() === '') return { event: {} };
  try {
    return { event: JSON.parse(text) };
  } catch (e) {
    return { problem: `This is not valid JSON: ${(e as Error).message}` };
  }
}

export function InvokePanel({ function: f }: { function: FunctionInfo }) {
  const [eventText, setEventText] = useState('{\n  "name": "Ada"\n}');
  const [argsText, setArgsText] = useState('');
  const [runtime, setRuntime] = useState<RuntimeKind | ''>('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [answer, setAnswer] = useState<Invocation | undefined>(undefined);
  const health = useLoad(api.health, []);
  const runtimes = health.data?.runtimes;

  const invoke = useAction(async () => {
    const parsed = parseEvent(eventText);
    if ('problem' in parsed) {
      setProblem(parsed.problem);
      return;
    }
    setProblem(undefined);
    const args = argsText.split('\n').filter((line) => line !== '');
    setAnswer(await api.invoke(f.name, { event: parsed.event, args, runtime: runtime || undefined }));
  });

  return (
    <div class="invoke">
      <form class="invoke-form" noValidate onSubmit={(e) => { e.preventDefault(); invoke.run(); }}>
        <Field id="event" label="Event (JSON)" error={problem}
          hint="What the handler receives as its event. Empty means {}.">
          <textarea id="event" class="code-input" rows={8} spellcheck={false} value={eventText}
            {...described('event', problem, true)}
            onInput={(e) => { setEventText(e.currentTarget.value); setProblem(undefined); }} />
        </Field>
        <Field id="args" label="Arguments"
          hint="For script-style code (no handler): one argument per line, passed as its command line.">
          <textarea id="args" class="code-input" rows={3} spellcheck={false} value={argsText}
            aria-describedby="args-hint" onInput={(e) => setArgsText(e.currentTarget.value)} />
        </Field>
        <Field id="invoke-runtime" label="Runtime" hint={runtime && runtimes && !runtimes[runtime]?.available ? runtimes[runtime]?.reason : undefined}>
          <select id="invoke-runtime" value={runtime} onChange={(e) => setRuntime(e.currentTarget.value as RuntimeKind | '')}>
            <option value="">The function’s own ({f.runtime})</option>
            {RUNTIMES.map((kind) => (
              <option key={kind} value={kind}>
                {kind === 'gvisor' ? 'gVisor' : kind === 'docker' ? 'Docker' : 'Sandbox'}
                {runtimes && !runtimes[kind]?.available ? ' (unavailable here)' : ''}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" class="button button-primary" disabled={invoke.busy}>
          {invoke.busy ? 'Running…' : 'Invoke'}
        </button>
      </form>
      <div class="invoke-answer" aria-live="polite">
        <ErrorNotice error={invoke.error} title="Not invoked" />
        {answer ? <InvocationView invocation={answer} headingLevel={3} />
          : !invoke.error && <p class="muted">The answer appears here: result, logs, errors and timings.</p>}
      </div>
    </div>
  );
}
