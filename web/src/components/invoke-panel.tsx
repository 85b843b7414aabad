// Invoking a function from the page: an event (checked as JSON before it is sent), script
// arguments, a runtime, and the answer in full.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useLoad } from '../hooks';
import type { FunctionInfo, Invocation, RuntimeKind } from '../types';
import { RUNTIMES, runtimeProblem } from '../types';
import { InvocationView } from './invocation-view';
import { described, ErrorNotice, Field } from './ui';

const RUNTIME_NAMES: Record<RuntimeKind, string> = { sandbox: 'Sandbox', docker: 'Docker', gvisor: 'gVisor' };

/** Where JSON.parse stopped, in words. */
function parseEvent(text: string): { event: unknown } | { problem: string } {
  if (text.trim() === '') return { event: {} };
  try {
    return { event: JSON.parse(text) };
  } catch (e) {
    return { problem: `This is not valid JSON: ${(e as Error).message}` };
  }
}

/** Seconds since `running` became true, ticking while it is. */
function useElapsed(running: boolean): number {
  const [seconds, setSeconds] = useState(0);
  useEffect(() => {
    if (!running) return undefined;
    const started = Date.now();
    setSeconds(0);
    const timer = window.setInterval(() => setSeconds(Math.floor((Date.now() - started) / 1000)), 500);
    return () => window.clearInterval(timer);
  }, [running]);
  return seconds;
}

export function InvokePanel({ function: f }: { function: FunctionInfo }) {
  const [eventText, setEventText] = useState('{\n  "name": "Ada"\n}');
  const [argsText, setArgsText] = useState('');
  const [runtime, setRuntime] = useState<RuntimeKind | ''>('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [answer, setAnswer] = useState<Invocation | undefined>(undefined);
  const health = useLoad(api.health, []);
  const cannot = (kind: RuntimeKind) => runtimeProblem(health.data, kind, f.language);

  const invoke = useAction(async () => {
    const parsed = parseEvent(eventText);
    if ('problem' in parsed) {
      setProblem(parsed.problem);
      setAnswer(undefined);
      return;
    }
    setProblem(undefined);
    setAnswer(undefined);
    const args = argsText.split('\n').filter((line) => line !== '');
    setAnswer(await api.invoke(f.name, { event: parsed.event, args, runtime: runtime || undefined }));
  });
  const elapsed = useElapsed(invoke.busy);
  const chosen = runtime || f.runtime;

  return (
    <div class="invoke">
      <form class="invoke-form" noValidate onSubmit={(e) => { e.preventDefault(); if (!invoke.busy) invoke.run(); }}>
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
        <Field id="invoke-runtime" label="Runtime" error={cannot(chosen) && `Not here: ${cannot(chosen)}`}>
          <select id="invoke-runtime" value={runtime} onChange={(e) => setRuntime(e.currentTarget.value as RuntimeKind | '')}>
            <option value="">The function’s own ({f.runtime})</option>
            {RUNTIMES.map((kind) => (
              <option key={kind} value={kind}>
                {RUNTIME_NAMES[kind]}{cannot(kind) ? ' (unavailable here)' : ''}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" class="button button-primary" aria-disabled={invoke.busy}>
          {invoke.busy ? 'Running…' : 'Invoke'}
        </button>
      </form>
      <div class="invoke-answer" aria-live="polite">
        <ErrorNotice error={invoke.error} title="Not invoked" />
        {invoke.busy && <p class="notice" role="status">Running for {elapsed} s (the timeout is {f.timeout} s)…</p>}
        {answer ? <InvocationView invocation={answer} headingLevel={3} />
          : !invoke.error && !invoke.busy && <p class="muted">The answer appears here: result, logs, errors and timings.</p>}
      </div>
    </div>
  );
}
