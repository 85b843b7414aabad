// The shapes of the API's answers the dashboard reads (see /openapi.json for all of them).

export type Language = 'python' | 'javascript';
export type RuntimeKind = 'sandbox' | 'docker' | 'gvisor';
export type Status = 'success' | 'error' | 'timeout' | 'out_of_memory' | 'crashed' | 'throttled';
export type StartKind = 'warm' | 'prewarmed' | 'cold';

export const LANGUAGES: Language[] = ['python', 'javascript'];
export const RUNTIMES: RuntimeKind[] = ['sandbox', 'docker', 'gvisor'];
export const STATUSES: Status[] = ['success', 'error', 'timeout', 'out_of_memory', 'crashed', 'throttled'];

export interface User {
  id: string;
  username: string;
  role: 'admin' | 'user';
  created_at: string;
}

export interface TokenInfo {
  id: string;
  name: string;
  kind: 'api' | 'session';
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  active: boolean;
}

export interface IssuedToken extends TokenInfo {
  token: string;
}

/** Who is signed in (`GET /auth/me` has the same shape). */
export interface SessionUser {
  id: string;
  username: string;
  admin: boolean;
}

/** `GET /auth/session`: who is signed in, and the proof state-changing requests carry. */
export interface Session {
  user: SessionUser;
  /** `false` when the server runs with --no-auth: nobody signs in. */
  auth: boolean;
  csrf_token: string | null;
  session: TokenInfo | null;
}

export interface FunctionInfo {
  id: string;
  name: string;
  language: Language;
  handler: string;
  route: string | null;
  timeout: number;
  memory_mb: number;
  env: Record<string, string>;
  runtime: RuntimeKind;
  max_concurrency: number | null;
  min_warm: number;
  keep_alive_secs: number | null;
  version: number;
  code_sha256: string;
  code_size: number;
  created_at: string;
  updated_at: string;
}

export interface FunctionWithCode extends FunctionInfo {
  code: string;
}

/** The body of `POST /functions` and `PUT /functions/{f}`. */
export interface FunctionInput {
  name?: string;
  language?: Language;
  code?: string;
  handler?: string;
  route?: string | null;
  timeout?: number;
  memory_mb?: number;
  env?: Record<string, string>;
  runtime?: RuntimeKind;
  max_concurrency?: number | null;
  min_warm?: number;
  keep_alive_secs?: number | null;
}

export interface FunctionError {
  errorType: string;
  errorMessage: string;
  stackTrace: string[];
}

export interface Invocation {
  invocation_id: string;
  function_id: string;
  function_name: string;
  version: number;
  runtime: RuntimeKind;
  status: Status;
  result: unknown;
  error: FunctionError | null;
  logs: string;
  start: StartKind | null;
  started_at: string;
  duration_ms: number;
  init_ms: number | null;
  peak_memory_bytes: number | null;
  cpu_time_ms: number | null;
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** One answer of `POST /functions/invoke`. */
export type BatchAnswer = Invocation | ErrorBody;

export interface Window {
  window: string;
  since: string | null;
  until: string;
}

export interface Distribution {
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface Stats {
  invocations: number;
  successes: number;
  errors: number;
  timeouts: number;
  out_of_memory: number;
  crashes: number;
  throttles: number;
  success_rate: number | null;
  starts: { warm: number; prewarmed: number; cold: number };
  duration_ms: Distribution;
  init_ms_mean: number | null;
  peak_memory_bytes: number | null;
  cpu_time_ms: number | null;
  cpu_time_ms_mean: number | null;
}

export interface FunctionStats extends Stats {
  function_id: string;
  function: string;
  deleted?: boolean;
}

export interface Summary {
  window: Window;
  totals: Stats;
  functions: FunctionStats[];
}

export interface FunctionMetrics extends FunctionStats {
  window: Window;
}

export interface Point {
  start: string;
  invocations: number;
  successes: number;
  failures: number;
  errors: number;
  timeouts: number;
  out_of_memory: number;
  crashes: number;
  throttles: number;
  cold_starts: number;
  duration_ms_mean: number | null;
  duration_ms_p50: number | null;
  duration_ms_p95: number | null;
  duration_ms_max: number | null;
}

export interface TimeSeries {
  window: Window;
  step_secs: number;
  points: Point[];
}

export interface FunctionActivity {
  function_id: string;
  function: string;
  invocations: number[];
  failures: number[];
  last_status: Status | null;
  last_started_at: string | null;
}

export interface Activity {
  window: Window;
  bucket_ms: number;
  functions: FunctionActivity[];
}

export interface InstanceCount {
  runtime: RuntimeKind;
  language: Language;
  state: 'idle' | 'prewarmed' | 'busy' | 'starting';
  count: number;
}

export interface PoolSnapshot {
  /** One user's view: their own instances and memory (against their quota); counters are zero. */
  own: boolean;
  instances: InstanceCount[];
  total_instances: number;
  max_instances: number;
  memory_reserved_mb: number;
  memory_budget_mb: number;
  queue_length: number;
  starts: { warm: number; prewarmed: number; cold: number };
  hit_rate: number;
  throttled: number;
  evicted: number;
  expired: number;
}

export interface Host {
  cpus: number;
  cpu_usage_percent: number | null;
  load_average: [number, number, number];
  memory_total_mb: number;
  memory_available_mb: number;
}

export interface SystemMetrics {
  pool: PoolSnapshot;
  host: Host;
}

export interface Availability {
  available: boolean;
  reason?: string;
}

/** Why `runtime` cannot run `language` on this server, or `undefined` when it can. */
export function runtimeProblem(health: Health | undefined, runtime: RuntimeKind, language: Language): string | undefined {
  const state = health?.runtimes[runtime];
  if (!state) return undefined;
  if (!state.available) return state.reason ?? 'unavailable';
  const support = state.languages?.[language];
  return support && !support.available ? support.reason ?? `it cannot run ${language}` : undefined;
}

export interface Health {
  status: 'ok' | 'degraded';
  /** Only for a signed-in caller. */
  version?: string;
  default_runtime: RuntimeKind;
  runtimes: Record<RuntimeKind, Availability & { languages?: Record<Language, Availability> }>;
}
