// The one client of Kindling's HTTP API that every page uses. The browser's session is an
// HttpOnly cookie this code never sees; what it holds is the session's CSRF proof, sent with
// every state-changing request.
import type {
  Activity, BatchAnswer, FunctionInfo, FunctionInput, FunctionMetrics, FunctionWithCode, Health,
  Invocation, IssuedToken, RuntimeKind, Session, Status, Summary, SystemMetrics, TimeSeries,
  TokenInfo, User,
} from './types';

/** A refusal from the API: its status, its stable code, and the field it concerns, if any. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Raised (as an event on window) when the server no longer knows the session. */
export const SIGNED_OUT = 'kindling:signed-out';
const CSRF_HEADER = 'X-Kindling-CSRF';

let csrfToken = '';

/** Remembers the CSRF proof of the session just opened or read. */
export function setCsrfToken(token: string | null) {
  csrfToken = token ?? '';
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers[CSRF_HEADER] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'The Kindling server cannot be reached. Is it running?');
  }
  const text = await response.text();
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
    const failure = new ApiError(
      response.status,
      error?.code ?? 'http_' + response.status,
      error?.message ?? `${response.status} ${response.statusText}`,
      error?.field,
    );
    if (response.status === 401 && path !== '/auth/session') {
      window.dispatchEvent(new CustomEvent(SIGNED_OUT, { detail: failure }));
    }
    throw failure;
  }
  return json as T;
}

const query = (params: Record<string, string | number | undefined | null>) => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? '?' + text : '';
};
const part = encodeURIComponent;

export interface InvocationQuery {
  function?: string;
  status?: Status | '';
  before?: string;
  limit?: number;
}

export interface InvokeOptions {
  event: unknown;
  args: string[];
  runtime?: RuntimeKind;
}

export const api = {
  session: () => call<Session>('GET', '/auth/session'),
  signIn: (credentials: { username: string; password: string } | { token: string }) =>
    call<Session>('POST', '/auth/session', credentials),
  signOut: () => call<null>('DELETE', '/auth/session'),

  health: () => call<Health>('GET', '/health'),

  functions: () => call<FunctionInfo[]>('GET', '/functions'),
  function: (name: string) => call<FunctionWithCode>('GET', `/functions/${part(name)}`),
  createFunction: (input: FunctionInput) => call<FunctionWithCode>('POST', '/functions', input),
  updateFunction: (name: string, input: FunctionInput) =>
    call<FunctionWithCode>('PUT', `/functions/${part(name)}`, input),
  deleteFunction: (name: string) => call<{ id: string }>('DELETE', `/functions/${part(name)}`),
  versions: (name: string) => call<FunctionInfo[]>('GET', `/functions/${part(name)}/versions`),
  version: (name: string, version: number) =>
    call<FunctionWithCode>('GET', `/functions/${part(name)}/versions/${version}`),

  /** One invocation through the batch route, which also takes script arguments. */
  invoke: async (name: string, options: InvokeOptions): Promise<Invocation> => {
    const [answer] = await call<BatchAnswer[]>('POST', '/functions/invoke', [
      { function: name, event: options.event, args: options.args, runtime: options.runtime },
    ]);
    if ('invocation_id' in answer) return answer;
    throw new ApiError(400, answer.error.code, answer.error.message, answer.error.field);
  },
  invocations: (filter: InvocationQuery) =>
    call<Invocation[]>('GET', '/invocations' + query({ ...filter })),
  invocation: (id: string) => call<Invocation>('GET', `/invocations/${part(id)}`),

  summary: (window: string) => call<Summary>('GET', '/metrics/summary' + query({ window })),
  functionMetrics: (name: string, window: string) =>
    call<FunctionMetrics>('GET', `/metrics/functions/${part(name)}` + query({ window })),
  timeSeries: (window: string, name?: string) =>
    call<TimeSeries>(
      'GET',
      (name ? `/metrics/functions/${part(name)}/timeseries` : '/metrics/timeseries') + query({ window }),
    ),
  activity: (window: string, buckets: number) =>
    call<Activity>('GET', '/metrics/activity' + query({ window, buckets })),
  system: () => call<SystemMetrics>('GET', '/metrics/system'),

  tokens: () => call<TokenInfo[]>('GET', '/auth/tokens'),
  createToken: (name: string, expiresInSecs: number | null) =>
    call<IssuedToken>('POST', '/auth/tokens', { name, expires_in_secs: expiresInSecs ?? undefined }),
  revokeToken: (id: string) => call<TokenInfo>('DELETE', `/auth/tokens/${part(id)}`),
  users: () => call<User[]>('GET', '/auth/users'),
  createUser: (username: string, password: string, role: 'admin' | 'user') =>
    call<User>('POST', '/auth/register', { username, password, role }),
  resetToken: (username: string) =>
    call<IssuedToken>('POST', `/auth/users/${part(username)}/reset-token`),
};
