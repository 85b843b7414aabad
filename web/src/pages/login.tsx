// Signing in: a user name and password, or an API token pasted once. Either way the server
// answers with a session cookie the page never sees; the token is not kept by the browser.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorNotice, Field } from '../components/ui';
import { useAction } from '../hooks';
import type { Session } from '../types';

type Method = 'password' | 'token';

export function LoginPage({ notice, onSignedIn }: { notice?: string; onSignedIn: (session: Session) => void }) {
  const [method, setMethod] = useState<Method>('password');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const signIn = useAction(async () => {
    const session = await api.signIn(method === 'password' ? { username, password } : { token: token.trim() });
    onSignedIn(session);
  });

  const submit = (event: Event) => {
    event.preventDefault();
    signIn.run();
  };

  return (
    <main class="login" id="main">
      <div class="login-card">
        <h1 class="login-title">
          <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
            <path d="M16 3c1 5 7 8 7 15a7 7 0 0 1-14 0c0-4 2-6 3-8 1 3 2 4 3 4 0-4 0-7 1-11z" />
          </svg>
          Sign in to Kindling
        </h1>
        {notice && <p class="notice" role="status">{notice}</p>}
        <form onSubmit={submit} noValidate>
          <fieldset class="segmented">
            <legend>Sign in with</legend>
            {(['password', 'token'] as Method[]).map((choice) => (
              <label key={choice} class={method === choice ? 'selected' : ''}>
                <input
                  type="radio"
                  name="method"
                  value={choice}
                  checked={method === choice}
                  onChange={() => { setMethod(choice); signIn.setError(undefined); }}
                />
                {choice === 'password' ? 'Password' : 'API token'}
              </label>
            ))}
          </fieldset>
          {method === 'password' ? (
            <>
              <Field id="username" label="User name">
                <input id="username" name="username" autoComplete="username" required value={username}
                  onInput={(e) => setUsername(e.currentTarget.value)} />
              </Field>
              <Field id="password" label="Password">
                <input id="password" name="password" type="password" autoComplete="current-password" required
                  value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
              </Field>
            </>
          ) : (
            <Field id="token" label="Token"
              hint={<>A token such as the administrator&apos;s in <code>kindling-data/admin-token</code>. It is exchanged for a session and not stored by the browser.</>}>
              <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} required
                placeholder="kdl_…" value={token} aria-describedby="token-hint"
                onInput={(e) => setToken(e.currentTarget.value)} />
            </Field>
          )}
          <ErrorNotice error={signIn.error} title="Not signed in" />
          <button type="submit" class="button button-primary button-wide" disabled={signIn.busy}>
            {signIn.busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
