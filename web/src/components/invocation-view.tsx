// One invocation in full: how it ended (said plainly), its result, error, logs and timings.
import { bytes, duration, json, time } from '../format';
import { href } from '../router';
import type { Invocation } from '../types';
import { StatusBadge } from './ui';

const START_LABELS = {
  warm: 'Warm',
  prewarmed: 'Pre-warmed',
  cold: 'Cold',
};
const START_MEANINGS = {
  warm: 'An idle instance of this version was reused.',
  prewarmed: 'A started instance loaded the code.',
  cold: 'A new instance was started.',
};

function verdict(invocation: Invocation): { tone: string; text: string } {
  const took = duration(invocation.duration_ms);
  switch (invocation.status) {
    case 'success':
      return { tone: 'good', text: `Succeeded in ${took}.` };
    case 'error':
      return { tone: 'bad', text: `The function raised ${invocation.error?.errorType ?? 'an error'}.` };
    case 'timeout':
      return { tone: 'bad', text: `Timed out: it was still running after ${took}, past its timeout, and its instance was killed.` };
    case 'out_of_memory':
      return { tone: 'bad', text: 'Out of memory: the instance went over its memory limit and was killed.' };
    case 'crashed':
      return { tone: 'bad', text: `Crashed: the instance died after ${took} without answering.` };
    case 'throttled':
      return { tone: 'warn', text: 'Throttled: the function was at its concurrency limit, so this invocation did not run.' };
    default:
      return { tone: 'bad', text: invocation.status };
  }
}

export function InvocationView({ invocation, headingLevel = 2 }: { invocation: Invocation; headingLevel?: 2 | 3 }) {
  const Heading = headingLevel === 2 ? 'h2' : 'h3';
  const { tone, text } = verdict(invocation);
  return (
    <div class="invocation">
      <div class={`verdict verdict-${tone}`} role="status" data-status={invocation.status}>
        <StatusBadge status={invocation.status} /> {text}
      </div>
      <dl class="facts">
        <div>
          <dt>Start</dt>
          <dd>{invocation.start ? <span title={START_MEANINGS[invocation.start]}>{START_LABELS[invocation.start]}</span> : '—'}</dd>
        </div>
        <div><dt>Duration</dt><dd>{duration(invocation.duration_ms)}</dd></div>
        <div><dt>Init time</dt><dd>{duration(invocation.init_ms)}</dd></div>
        <div><dt>Peak memory</dt><dd>{bytes(invocation.peak_memory_bytes)}</dd></div>
        <div><dt>CPU time</dt><dd>{duration(invocation.cpu_time_ms)}</dd></div>
        <div><dt>Runtime</dt><dd>{invocation.runtime}</dd></div>
        <div><dt>Version</dt><dd>{invocation.version}</dd></div>
        <div><dt>Started</dt><dd>{time(invocation.started_at)}</dd></div>
        <div>
          <dt>Invocation</dt>
          <dd><a href={href('invocations', invocation.invocation_id)}><code>{invocation.invocation_id}</code></a></dd>
        </div>
      </dl>
      {invocation.status === 'success' && (
        <>
          <Heading>Result</Heading>
          {/* A script's output (a string) reads as text, not as an escaped JSON string. */}
          <pre class="output" tabIndex={0} data-testid="result">
            {typeof invocation.result === 'string' ? invocation.result : json(invocation.result)}
          </pre>
        </>
      )}
      {invocation.error && (
        <>
          <Heading>Error</Heading>
          <div class="error-box" data-testid="error">
            <p><strong>{invocation.error.errorType}</strong>: {invocation.error.errorMessage}</p>
            {invocation.error.stackTrace.length > 0 && (
              <pre class="output" tabIndex={0}>{invocation.error.stackTrace.join('\n')}</pre>
            )}
          </div>
        </>
      )}
      <Heading>Logs</Heading>
      {invocation.logs
        ? <pre class="output" tabIndex={0} data-testid="logs">{invocation.logs}</pre>
        : <p class="muted">The function printed nothing.</p>}
    </div>
  );
}
