// Signing in: a user name and password, or an API token pasted once. Either way the server
// answers with a session cookie the page never sees; the token is not kept by the browser.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { ErrorNotice, Field } from '../components/ui';
import { useAction } from '../hooks';
import type { Session } from '../types';

type Method = 'password' | 'token';

function BrandMark() {
  return (
    <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
      <path d="M16 3c1 5 7 8 7 15a7 7 0 0 1-14 0c0-4 2-6 3-8 1 3 2 4 3 4 0-4 0-7 1-11z" />
    </svg>
  );
}

/** The sign-in form, on the sign-in page or in the dialog that asks again when a session ends. */
function SignInForm({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [method, setMethod] = useState<Method>('password');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const signIn = useAction(async () => {
    const missing = method === 'password'
      ? (!username.trim() ? 'Enter your user name.' : !password ? 'Enter your password.' : '')
      : (!token.trim() ? 'Paste an API token.' : '');
    if (missing) throw new ApiError(0, 'missing', missing);
    const session = await api.signIn(method === 'password' ? { username: username.trim(), password } : { token: token.trim() });
    onSignedIn(session);
  });

  const submit = (event: Event) => {
    event.preventDefault();
    signIn.run();
  };

  return (
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
          <Field id="password" label="Password"
            hint="The first administrator, admin, has no password: it signs in with the API token in kindling-data/admin-token.">
            <input id="password" name="password" type="password" autoComplete="current-password" required
              value={password} aria-describedby="password-hint" onInput={(e) => setPassword(e.currentTarget.value)} />
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
      <button type="submit" class="button button-primary button-wide" aria-disabled={signIn.busy}>
        {signIn.busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

export function LoginPage({ notice, onSignedIn }: { notice?: string; onSignedIn: (session: Session) => void }) {
  return (
    <main class="login" id="main">
      <div class="login-card">
        <h1 class="login-title"><BrandMark />Sign in to Kindling</h1>
        {notice && <p class="notice" role="status">{notice}</p>}
        <SignInForm onSignedIn={onSignedIn} />
      </div>
    </main>
  );
}

/**
 * Asks to sign in again over the page when its session ends (signed out elsewhere, expired,
 * revoked): what the page held — an unsaved edit, say — is still there afterwards.
 */
export function SignInAgain({ reason, onSignedIn }: { reason: string; onSignedIn: (session: Session) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (dialog.current && !dialog.current.open) dialog.current.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="dialog login-card" aria-labelledby="again-title"
      onCancel={(e) => e.preventDefault()}>
      <h2 id="again-title" class="login-title"><BrandMark />Sign in again</h2>
      <p class="notice" role="status">{reason} Sign in to carry on: this page keeps what it holds.</p>
      <SignInForm onSignedIn={onSignedIn} />
    </dialog>
  );
}
