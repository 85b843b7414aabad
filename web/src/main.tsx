// The dashboard: signs in, then shows the page the URL's fragment names.
import './styles.css';
import 'uplot/dist/uPlot.min.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setCsrfToken, SIGNED_OUT } from './api';
import { Layout } from './components/layout';
import { Loading } from './components/ui';
import { asApiError } from './hooks';
import { AccountPage } from './pages/account';
import { FunctionPage } from './pages/function';
import { FunctionsPage } from './pages/functions';
import { InvocationPage } from './pages/invocation';
import { InvocationsPage } from './pages/invocations';
import { LoginPage, SignInAgain } from './pages/login';
import { MetricsPage } from './pages/metrics';
import { NewFunctionPage } from './pages/new-function';
import { NotFoundPage } from './pages/not-found';
import { SystemPage } from './pages/system';
import { type Route, useRoute } from './router';
import { SessionContext } from './session';
import type { Session } from './types';

function Page({ route }: { route: Route }) {
  const [section, id, tab] = route.parts;
  switch (section) {
    case 'functions':
      return id === undefined ? <FunctionsPage /> : <FunctionPage key={id} name={id} tab={tab} />;
    case 'new-function':
      return <NewFunctionPage />;
    case 'invocations':
      return id === undefined ? <InvocationsPage route={route} /> : <InvocationPage id={id} />;
    case 'metrics':
      return <MetricsPage route={route} />;
    case 'system':
      return <SystemPage />;
    case 'account':
      return <AccountPage />;
    default:
      return <NotFoundPage />;
  }
}

/** Why the server no longer knows this browser's session, in a user's words. */
function endedBecause(refusal: ApiError): string {
  switch (refusal.code) {
    case 'token_revoked':
      return 'Your session was ended: signed out in another tab, or revoked.';
    case 'token_expired':
      return 'Your session expired.';
    default:
      return 'You are no longer signed in.';
  }
}

function App() {
  // undefined: still asking the server; null: nobody is signed in.
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [problem, setProblem] = useState<ApiError | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  // Why the session ended while the page was open: it then asks to sign in again over the page.
  const [ended, setEnded] = useState<string | undefined>(undefined);
  const route = useRoute();

  const adopt = (next: Session | null) => {
    setCsrfToken(next?.csrf_token ?? null);
    setSession(next);
    setEnded(undefined);
  };

  const ask = () => {
    setProblem(undefined);
    api.session().then(adopt, (e) => {
      const error = asApiError(e);
      if (error.status === 401) adopt(null);
      else setProblem(error);
    });
  };

  useEffect(() => {
    ask();
    const lost = (event: Event) => setEnded(endedBecause((event as CustomEvent<ApiError>).detail));
    window.addEventListener(SIGNED_OUT, lost);
    return () => window.removeEventListener(SIGNED_OUT, lost);
  }, []);

  if (problem) {
    return (
      <main class="centered">
        <div class="notice notice-error" role="alert">{problem.message}</div>
        <button type="button" class="button" onClick={ask}>Try again</button>
      </main>
    );
  }
  if (session === undefined) return <main class="centered"><Loading /></main>;
  if (session === null) {
    return <LoginPage notice={notice} onSignedIn={(next) => { setNotice(undefined); adopt(next); }} />;
  }
  const signOut = async () => {
    try {
      await api.signOut();
    } finally {
      setNotice('You signed out.');
      adopt(null);
    }
  };
  return (
    <SessionContext.Provider value={session}>
      <Layout route={route} onSignOut={signOut}>
        <Page route={route} />
      </Layout>
      {ended && <SignInAgain reason={ended} onSignedIn={adopt} />}
    </SessionContext.Provider>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
