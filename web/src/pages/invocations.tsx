// Every invocation the user may see, newest first: #/invocations?function=NAME&status=STATUS.
import { type Filter, InvocationList } from '../components/invocation-list';
import { navigate, type Route } from '../router';
import type { Status } from '../types';

export function InvocationsPage({ route }: { route: Route }) {
  return (
    <section aria-labelledby="invocations-title">
      <div class="page-head"><h1 id="invocations-title">Invocations</h1></div>
      <InvocationList
        initial={{
          function: route.params.get('function') ?? '',
          status: (route.params.get('status') ?? '') as Status | '',
        }}
        onFilter={(filter: Filter) => {
          const params = new URLSearchParams(Object.entries(filter).filter(([, value]) => value));
          navigate(`#/invocations${params.size ? `?${params}` : ''}`, true);
        }}
      />
    </section>
  );
}
