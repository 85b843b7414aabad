// The server: which runtimes this host can run (and why not), the pool's instances, the queue,
// and the host's CPU and memory, refreshed every two seconds.
import { api } from '../api';
import { ErrorNotice, Loading, Pair, Stat, Table } from '../components/ui';
import { count, percent } from '../format';
import { useLoad } from '../hooks';
import type { InstanceCount, Language, RuntimeKind } from '../types';
import { LANGUAGES, RUNTIMES } from '../types';

const STATES: InstanceCount['state'][] = ['busy', 'idle', 'prewarmed', 'starting'];
const REFRESH_MS = 2000;

export function SystemPage() {
  const health = useLoad(api.health, [], REFRESH_MS);
  const system = useLoad(api.system, [], REFRESH_MS);
  const pool = system.data?.pool;
  const host = system.data?.host;
  const instances = (runtime: RuntimeKind, language: Language, state: InstanceCount['state']) =>
    pool?.instances.find((i) => i.runtime === runtime && i.language === language && i.state === state)?.count ?? 0;

  return (
    <section aria-labelledby="system-title">
      <div class="page-head">
        <h1 id="system-title">System</h1>
        {health.data && <span class="muted">Kindling {health.data.version} · default runtime {health.data.default_runtime}</span>}
      </div>
      <ErrorNotice error={health.error ?? system.error} title="Cannot read the server's state" />
      <h2>Runtimes</h2>
      {!health.data ? <Loading /> : (
        <ul class="runtimes">
          {RUNTIMES.map((kind) => {
            const runtime = health.data!.runtimes[kind];
            const runnable = LANGUAGES.filter((language) => runtime.languages?.[language]?.available).length;
            const [tone, state] = !runtime.available ? ['off', 'Unavailable']
              : runnable === 0 ? ['off', 'Runs no language here']
                : runnable < LANGUAGES.length ? ['part', 'Partly available'] : ['ok', 'Available'];
            return (
              <li key={kind} class={`runtime runtime-${tone}`}>
                <h3>{kind}{kind === health.data!.default_runtime && <span class="badge badge-quiet">default</span>}</h3>
                <p class="runtime-state">{state}</p>
                {runtime.reason && <p class="runtime-reason">{runtime.reason}</p>}
                {runtime.languages && (
                  <ul class="languages">
                    {LANGUAGES.map((language) => {
                      const support = runtime.languages?.[language];
                      return (
                        <li key={language}>
                          {language}: {support?.available ? 'yes' : `no${support?.reason ? ` (${support.reason})` : ''}`}
                        </li>
                      );
                    })}
                  </ul>
                )}
              </li>
            );
          })}
        </ul>
      )}
      <h2>Pool</h2>
      {!pool ? <Loading /> : (
        <>
          <div class="stats">
            <Stat label={pool.own ? 'Your instances' : 'Instances'} value={<Pair first={count(pool.total_instances)} second={count(pool.max_instances)} />} />
            <Stat label={pool.own ? 'Your memory reserved' : 'Memory reserved'} value={<Pair first={`${count(pool.memory_reserved_mb)}`} second={`${count(pool.memory_budget_mb)} MB`} />}
              detail={pool.own ? 'of your quota' : undefined} />
            <Stat label="Queue" value={count(pool.queue_length)} detail={pool.own ? 'your invocations waiting for your quota' : 'invocations waiting for a slot'} />
            {!pool.own && <>
              <Stat label="Warm hit rate" value={percent(pool.hit_rate)}
                detail={`${count(pool.starts.warm)} warm · ${count(pool.starts.prewarmed)} pre-warmed · ${count(pool.starts.cold)} cold`} />
              <Stat label="Throttled / evicted / expired" value={`${count(pool.throttled)} / ${count(pool.evicted)} / ${count(pool.expired)}`} />
            </>}
          </div>
          <Table caption="Instances by runtime, language and state" columns={[
            { label: 'Runtime' }, { label: 'Language' }, ...STATES.map((state) => ({ label: state, numeric: true })),
          ]}>
                {RUNTIMES.flatMap((runtime) => LANGUAGES.map((language) => (
                  <tr key={`${runtime}-${language}`}>
                    <th scope="row">{runtime}</th>
                    <td>{language}</td>
                    {STATES.map((state) => <td key={state} class="num">{instances(runtime, language, state)}</td>)}
                  </tr>
                )))}
          </Table>
        </>
      )}
      <h2>Host</h2>
      {!host ? <Loading /> : (
        <div class="stats">
          <Stat label="CPU" value={host.cpu_usage_percent === null ? '—' : `${host.cpu_usage_percent.toFixed(0)} %`}
            detail={`${host.cpus} CPUs · load ${host.load_average.map((l) => l.toFixed(2)).join(' ')}`} />
          <Stat label="Memory used" value={<Pair first={count(host.memory_total_mb - host.memory_available_mb)} second={`${count(host.memory_total_mb)} MB`} />}
            detail={`${count(host.memory_available_mb)} MB available`} />
        </div>
      )}
    </section>
  );
}
