// The dashboard's figures, measured in Debian's Chromium against a real `kindling serve`:
//   - the first load: bytes transferred (compressed) and the time until the page is interactive;
//   - the functions page with 500 functions: time until every row is rendered;
//   - the metrics page over 7 days of per-minute data (10,080 points per series): the answer's
//     time and the time to draw the charts.
// Usage: node bench/dashboard.mjs [path/to/kindling]   (default ../target/release/kindling)
// It starts its own server on a free port with a temporary data dir, and reports medians of
// several runs. The 7 days of invocations are written into the server's SQLite database
// directly (with python3's sqlite3): no API backdates an invocation.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const binary = resolve(process.argv[2] ?? new URL('../../target/release/kindling', import.meta.url).pathname);
const RUNS = Number(process.env.RUNS ?? 5);
const dataDir = mkdtempSync(join(tmpdir(), 'kindling-dashboard-bench-'));

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function startServer() {
  const server = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, KINDLING_POOL__PREWARM: '1' },
  });
  const address = await new Promise((found, failed) => {
    let log = '';
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const match = log.match(/kindling is listening addr=(\S+)/);
      if (match) found(match[1]);
    });
    server.on('exit', (code) => failed(new Error(`kindling exited (${code}): ${log}`)));
  });
  return { server, base: `http://${address}` };
}

const { server, base } = await startServer();
const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
const api = async (method, path, body) => {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

/** A fresh profile (empty cache) signed in through the API token, as a first visit would be. */
async function signedInContext() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.getByRole('radio', { name: 'API token' }).check();
  await page.getByRole('textbox', { name: 'Token' }).fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await page.close();
  return context;
}

/** Bytes that crossed the wire (compressed bodies and headers) while `action` ran. */
async function transferred(page, action) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (event) => { bytes += event.encodedDataLength; });
  await action();
  await page.waitForLoadState('networkidle');
  await cdp.detach();
  return bytes;
}

const results = [];
const report = (what, value, unit, bar) => {
  results.push({ what, value, unit, bar });
  console.log(`${what}: ${value} ${unit}${bar ? ` (bar ${bar})` : ''}`);
};

try {
  // First load, cold cache: the sign-in page, then the functions page once signed in.
  const first = { signIn: [], signInBytes: [], functions: [], functionsBytes: [], editor: [], editorBytes: [] };
  await api('POST', '/functions', { name: 'hello', language: 'python', code: 'def handler(event):\n    return 1\n' });
  for (let run = 0; run < RUNS; run++) {
    const anonymous = await browser.newContext();
    const page = await anonymous.newPage();
    let started = 0;
    first.signInBytes.push(await transferred(page, async () => {
      started = performance.now();
      await page.goto(base + '/');
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      first.signIn.push(performance.now() - started);
    }));
    await anonymous.close();

    const context = await signedInContext();
    // The sign-in left the files in this profile's cache: a new profile with the cookie only.
    const cookies = await context.cookies();
    await context.close();
    const fresh = await browser.newContext();
    await fresh.addCookies(cookies);
    const signed = await fresh.newPage();
    first.functionsBytes.push(await transferred(signed, async () => {
      started = performance.now();
      await signed.goto(base + '/#/functions');
      await signed.locator('tbody tr').first().waitFor();
      first.functions.push(performance.now() - started);
    }));
    first.editorBytes.push(await transferred(signed, async () => {
      started = performance.now();
      await signed.goto(base + '/#/functions/hello/code');
      await signed.locator('.cm-content').waitFor();
      first.editor.push(performance.now() - started);
    }));
    await fresh.close();
  }
  const kb = (bytes) => (median(bytes) / 1024).toFixed(1);
  report('first load, sign-in page: transferred', kb(first.signInBytes), 'KiB', '≤ 300 KB');
  report('first load, sign-in page: interactive', median(first.signIn).toFixed(0), 'ms', '≤ 500 ms');
  report('first load, functions page (signed in): transferred', kb(first.functionsBytes), 'KiB', '≤ 300 KB');
  report('first load, functions page (signed in): interactive', median(first.functions).toFixed(0), 'ms', '≤ 500 ms');
  report('then the code editor: transferred', kb(first.editorBytes), 'KiB');
  report('then the code editor: interactive', median(first.editor).toFixed(0), 'ms');
  report('first load + editor: transferred in all', ((median(first.functionsBytes) + median(first.editorBytes)) / 1024).toFixed(1), 'KiB', '≤ 300 KB');

  // 500 functions.
  const made = await api('GET', '/functions');
  for (let i = made.length; i < 500; i++) {
    await api('POST', '/functions', { name: `fn-${String(i).padStart(3, '0')}`, language: i % 2 ? 'python' : 'javascript',
      code: i % 2 ? 'def handler(event):\n    return 1\n' : 'exports.handler = async () => 1;\n', route: `/fn/${i}` });
  }
  for (let i = 0; i < 50; i++) await api('POST', `/functions/fn-${String(i * 7 + 1).padStart(3, '0')}/invoke`, {});
  const context = await signedInContext();
  const list = [];
  for (let run = 0; run < RUNS; run++) {
    const page = await context.newPage();
    await page.goto(base + '/#/system');
    await page.locator('.runtime').first().waitFor();
    const started = performance.now();
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Functions' }).click();
    await page.locator('tbody tr').nth(499).waitFor();
    await page.locator('svg.sparkline').nth(499).waitFor();
    list.push(performance.now() - started);
    await page.close();
  }
  report('functions page with 500 functions: rendered', median(list).toFixed(0), 'ms', '≤ 1000 ms');

  // 7 days of per-minute invocations of one function, written straight into the database.
  const target = (await api('GET', '/functions/hello'));
  const minutes = 7 * 24 * 60;
  execFileSync('python3', ['-c', `
import sqlite3, sys, time, uuid, random
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
rows = []
random.seed(7)
for m in range(${minutes}):
    for k in range(2):
        started = now - (m + 1) * 60000 + k * 20000
        status = 'success' if random.random() > 0.05 else random.choice(['error', 'timeout'])
        rows.append((str(uuid.uuid4()), sys.argv[2], 'hello', sys.argv[3], 1, 'sandbox', random.choice(['warm', 'warm', 'cold']),
                     status, '1', None, '', started, random.random() * 20, None))
db.executemany("INSERT INTO invocations (id, function_id, function_name, owner, version, runtime, start, status, result, error, logs, started_at, duration_ms, init_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
`, join(dataDir, 'kindling.db'), target.id, (await api('GET', '/auth/me')).id]);

  const answer = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    const series = await api('GET', '/metrics/functions/hello/timeseries?window=7d');
    answer.push(performance.now() - started);
    if (run === 0) report('7-day series: points with invocations', series.points.length, 'minutes');
  }
  report('7-day series: the API answers in', median(answer).toFixed(0), 'ms');
  const draw = [];
  const shown = [];
  const fetched = [];
  for (let run = 0; run < RUNS; run++) {
    const page = await context.newPage();
    await page.goto(base + '/#/metrics?function=hello&window=1h');
    await page.locator('.chart-canvas[data-drawn-ms] canvas').nth(2).waitFor();
    const started = performance.now();
    await page.getByText('Last 7 days').click();
    await page.getByText(/over the last 7 days/).first().waitFor({ state: 'attached' });
    await page.waitForFunction(() => document.querySelectorAll('.chart-canvas canvas').length === 3);
    // Two animation frames: the charts are on screen.
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    shown.push(performance.now() - started);
    fetched.push(await page.evaluate(() => Math.max(...performance.getEntriesByType('resource')
      .filter((entry) => entry.name.includes('window=7d')).map((entry) => entry.duration))));
    // The drawing alone, as the chart timed it (from its data to its pixels).
    draw.push(Math.max(...await page.locator('.chart-canvas').evaluateAll((charts) => charts.map((c) => Number(c.dataset.drawnMs)))));
    await page.close();
  }
  report('metrics page, 7 days per minute (3 charts × 10,080 points): from the click to drawn', median(shown).toFixed(0), 'ms');
  report('…of which the slowest of its API requests (7-day figures and series)', median(fetched).toFixed(0), 'ms');
  report('…of which drawing the slowest chart', median(draw).toFixed(1), 'ms', '≤ 500 ms');
} finally {
  await browser.close();
  server.kill('SIGTERM');
  await new Promise((done) => server.on('exit', done));
  rmSync(dataDir, { recursive: true, force: true });
}
