// One invocation: result, logs, error and timings.
import { api } from '../api';
import { InvocationView } from '../components/invocation-view';
import { ErrorNotice, Loading } from '../components/ui';
import { useLoad } from '../hooks';
import { href } from '../router';

export function InvocationPage({ id }: { id: string }) {
  const invocation = useLoad(() => api.invocation(id), [id]);
  const data = invocation.data;
  return (
    <section aria-labelledby="invocation-title">
      <div class="page-head">
        <div>
          <p class="crumbs"><a href="#/invocations">Invocations</a> /</p>
          <h1 id="invocation-title">
            {data ? <>Invocation of <a href={href('functions', data.function_name, 'invocations')}>{data.function_name}</a></> : 'Invocation'}
          </h1>
        </div>
      </div>
      <ErrorNotice error={invocation.error} />
      {data ? <InvocationView invocation={data} /> : !invocation.error && <Loading what="Loading the invocation" />}
    </section>
  );
}
