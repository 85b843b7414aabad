// The user's API tokens (made, shown once, revoked) and browser sessions; for administrators,
// the users.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { type Column, Confirm, CopyButton, described, ErrorNotice, Field, Loading, Table } from '../components/ui';
import { ago, time } from '../format';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import type { IssuedToken, TokenInfo } from '../types';

const EXPIRIES = [
  { label: 'Never', secs: null },
  { label: '1 day', secs: 86_400 },
  { label: '7 days', secs: 7 * 86_400 },
  { label: '30 days', secs: 30 * 86_400 },
  { label: '90 days', secs: 90 * 86_400 },
  { label: '1 year', secs: 365 * 86_400 },
];

export function AccountPage() {
  const session = useSession();
  const tokens = useLoad(api.tokens, []);
  const apiTokens = (tokens.data ?? []).filter((t) => t.kind === 'api');
  // Sessions that ended (signed out, expired, revoked) are of no more use to anyone.
  const sessions = (tokens.data ?? []).filter((t) => t.kind === 'session' && t.active);
  return (
    <section aria-labelledby="account-title">
      <div class="page-head">
        <h1 id="account-title">Account</h1>
        <span class="muted">Signed in as <strong>{session.user.username}</strong> ({session.user.admin ? 'administrator' : 'user'})</span>
      </div>
      <ErrorNotice error={tokens.error} title="Cannot list the tokens" />
      <h2>API tokens</h2>
      <p class="muted">For scripts, the CLI and curl: send one as <code>Authorization: Bearer …</code>.</p>
      <NewToken onMade={tokens.reload} tokens={tokens.data ?? []} />
      {tokens.data ? <TokenTable tokens={apiTokens} empty="No API tokens." onRevoked={tokens.reload} /> : !tokens.error && <Loading />}
      <h2>Browser sessions</h2>
      {tokens.data ? (
        <TokenTable tokens={sessions} empty="No open sessions." current={session.session?.id} onRevoked={tokens.reload} />
      ) : !tokens.error && <Loading />}
      {session.user.admin && <Users />}
    </section>
  );
}

function NewToken({ onMade, tokens }: { onMade: () => void; tokens: TokenInfo[] }) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('0');
  const [issued, setIssued] = useState<IssuedToken | undefined>(undefined);
  const make = useAction(async () => {
    const made = await api.createToken(name.trim() || 'api', EXPIRIES[Number(expiry)].secs);
    setIssued(made);
    setName('');
    onMade();
  });
  const error = make.error?.code === 'invalid_token_name' ? make.error.message : undefined;
  return (
    <>
      <form class="inline-form" noValidate onSubmit={(e) => { e.preventDefault(); make.run(); }}>
        <Field id="token-name" label="Name" error={error}>
          <input id="token-name" placeholder="ci" value={name} {...described('token-name', error)}
            onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field id="token-expiry" label="Expires">
          <select id="token-expiry" value={expiry} onChange={(e) => setExpiry(e.currentTarget.value)}>
            {EXPIRIES.map((option, i) => <option key={option.label} value={String(i)}>{option.label === 'Never' ? 'Never' : `In ${option.label}`}</option>)}
          </select>
        </Field>
        <button type="submit" class="button button-primary" disabled={make.busy}>Create token</button>
      </form>
      {!error && <ErrorNotice error={make.error} title="No token made" />}
      {issued && !tokens.some((t) => t.id === issued.id && !t.active) && (
        <Secret issued={issued} onDone={() => setIssued(undefined)} />
      )}
    </>
  );
}

/** A token's text, shown this once. */
function Secret({ issued, owner, onDone }: { issued: IssuedToken; owner?: string; onDone: () => void }) {
  return (
    <div class="secret" role="status">
      <p>
        <strong>Token “{issued.name}” made{owner ? ` for ${owner}` : ''}.</strong> Copy it now: it is shown
        only this once and Kindling keeps only its digest.
      </p>
      <div class="secret-row">
        <label class="visually-hidden" for="secret-text">The new token</label>
        <input id="secret-text" class="secret-text" readOnly value={issued.token} onFocus={(e) => e.currentTarget.select()} />
        <CopyButton text={issued.token} />
        <button type="button" class="button button-quiet" onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

const TOKEN_COLUMNS: Column[] = [
  { label: 'Name' }, { label: 'Id' }, { label: 'Created' }, { label: 'Expires' }, { label: 'Last used' },
  { label: 'State' }, { label: 'Actions', hidden: true },
];

function TokenTable({ tokens, empty, current, onRevoked }: {
  tokens: TokenInfo[];
  empty: string;
  current?: string;
  onRevoked: () => void;
}) {
  const [revoking, setRevoking] = useState<TokenInfo | undefined>(undefined);
  const revoke = useAction(async (token: TokenInfo) => {
    await api.revokeToken(token.id);
    setRevoking(undefined);
    onRevoked();
  });
  if (tokens.length === 0) return <p class="muted">{empty}</p>;
  return (
    <>
      <Table columns={TOKEN_COLUMNS}>
          {tokens.map((token) => (
            <tr key={token.id}>
              <th scope="row">{token.name}{token.id === current && <span class="badge badge-quiet">this browser</span>}</th>
              <td><code>{token.id}</code></td>
              <td title={time(token.created_at)}>{ago(token.created_at)}</td>
              <td>{token.expires_at ? time(token.expires_at) : 'never'}</td>
              <td>{token.last_used_at ? <span title={time(token.last_used_at)}>{ago(token.last_used_at)}</span> : 'never'}</td>
              <td>
                {token.active ? <span class="badge status-success">Active</span>
                  : <span class="badge badge-quiet">{token.revoked_at ? 'Revoked' : 'Expired'}</span>}
              </td>
              <td>
                {token.active && (
                  <button type="button" class="button button-quiet" aria-label={`Revoke ${token.name} (${token.id})`}
                    onClick={() => setRevoking(token)}>Revoke</button>
                )}
              </td>
            </tr>
          ))}
      </Table>
      <Confirm open={revoking !== undefined} title={`Revoke “${revoking?.name}”?`} confirm="Revoke" busy={revoke.busy}
        onCancel={() => setRevoking(undefined)} onConfirm={() => revoking && revoke.run(revoking)}>
        <p>
          {revoking?.id === current
            ? 'This is the session of this browser: you will be signed out.'
            : 'Whatever uses it stops working at once.'}
        </p>
        <ErrorNotice error={revoke.error} />
      </Confirm>
    </>
  );
}

function Users() {
  const users = useLoad(api.users, []);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<'user' | 'admin'>('user');
  const [issued, setIssued] = useState<{ token: IssuedToken; owner: string } | undefined>(undefined);
  const [resetting, setResetting] = useState<string | undefined>(undefined);
  const create = useAction(async () => {
    await api.createUser(username.trim(), password, role);
    setUsername('');
    setPassword('');
    users.reload();
  });
  const reset = useAction(async (name: string) => {
    setIssued({ token: await api.resetToken(name), owner: name });
    setResetting(undefined);
  });
  const fieldError = (codes: string[]) => (create.error && codes.includes(create.error.code) ? create.error.message : undefined);
  const nameError = fieldError(['invalid_username', 'username_taken']);
  const passwordError = fieldError(['invalid_password']);
  return (
    <>
      <h2>Users</h2>
      <ErrorNotice error={users.error} title="Cannot list the users" />
      <form class="inline-form" noValidate onSubmit={(e) => { e.preventDefault(); create.run(); }}>
        <Field id="new-username" label="User name" error={nameError}>
          <input id="new-username" autoComplete="off" value={username} {...described('new-username', nameError)}
            onInput={(e) => setUsername(e.currentTarget.value)} />
        </Field>
        <Field id="new-password" label="Password" error={passwordError}>
          <input id="new-password" type="password" autoComplete="new-password" value={password}
            {...described('new-password', passwordError)} onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        <Field id="new-role" label="Role">
          <select id="new-role" value={role} onChange={(e) => setRole(e.currentTarget.value as 'user' | 'admin')}>
            <option value="user">User</option>
            <option value="admin">Administrator</option>
          </select>
        </Field>
        <button type="submit" class="button button-primary" disabled={create.busy}>Create user</button>
      </form>
      {!nameError && !passwordError && <ErrorNotice error={create.error} title="No user made" />}
      {issued && <Secret issued={issued.token} owner={issued.owner} onDone={() => setIssued(undefined)} />}
      {!users.data ? !users.error && <Loading /> : (
        <Table columns={[{ label: 'User' }, { label: 'Role' }, { label: 'Created' }, { label: 'Actions', hidden: true }]}>
              {users.data.map((user) => (
                <tr key={user.id}>
                  <th scope="row">{user.username}</th>
                  <td>{user.role}</td>
                  <td>{time(user.created_at)}</td>
                  <td>
                    <button type="button" class="button button-quiet" aria-label={`Reset token of ${user.username}`}
                      onClick={() => setResetting(user.username)}>Reset token</button>
                  </td>
                </tr>
              ))}
        </Table>
      )}
      <Confirm open={resetting !== undefined} title={`Reset the tokens of ${resetting}?`} confirm="Reset token" busy={reset.busy}
        onCancel={() => setResetting(undefined)} onConfirm={() => resetting && reset.run(resetting)}>
        <p>Every token and session of {resetting} is revoked, and one new token is made and shown once.</p>
        <ErrorNotice error={reset.error} />
      </Confirm>
    </>
  );
}
