// What every browser test uses: Debian's Chromium driven by playwright-core, against the real
// server that tests/dashboard.rs started (KINDLING_URL, its administrator's token in
// KINDLING_ADMIN_TOKEN). A page that logs a script error or a Content-Security-Policy violation
// fails its test.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.KINDLING_URL;
export const ADMIN_TOKEN = process.env.KINDLING_ADMIN_TOKEN;
const SCREENSHOTS = process.env.KINDLING_SCREENSHOTS;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

if (!BASE || !ADMIN_TOKEN) {
  throw new Error('run these through `cargo test --test dashboard`: it starts the server and sets KINDLING_URL');
}
if (!existsSync(CHROMIUM)) {
  throw new Error(`no Chromium at ${CHROMIUM}: run scripts/web-setup (apt-get install chromium)`);
}

/** Chromium as these machines allow it: headless, and nothing that reaches for the network. */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A fresh browser profile and page, watching for script errors and CSP violations. */
export async function open(browser, { viewport = { width: 1280, height: 860 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() !== 'error') return;
    // Asking who is signed in while nobody is answers 401, which Chromium logs; the tests
    // provoke other refusals on purpose.
    if (/status of 40[0-9]/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.problems = problems;
  return { context, page };
}

/**
 * Runs `body` with a fresh page; on failure keeps a screenshot of where it stopped
 * (`failed-<name>.png`) and says what the page logged.
 */
export async function withPage(browser, name, body, options) {
  const { context, page } = await open(browser, options);
  try {
    await body(page);
    assertClean(page);
  } catch (error) {
    await screenshot(page, `failed-${name}`).catch(() => {});
    if (page.problems.length) error.message += `\npage problems: ${page.problems.join('; ')}`;
    throw error;
  } finally {
    await context.close();
  }
}

/** Fails when the page logged a script error or a CSP violation. */
export function assertClean(page) {
  assert.deepEqual(page.problems, [], 'the page logged errors');
}

/** Signs in through the sign-in page with a password or a pasted token. */
export async function signIn(page, credentials) {
  await page.goto(BASE + '/');
  if (credentials.token) {
    await page.getByRole('radio', { name: 'API token' }).check();
    await page.getByRole('textbox', { name: 'Token' }).fill(credentials.token);
  } else {
    await page.getByRole('radio', { name: 'Password' }).check();
    await page.getByRole('textbox', { name: 'User name' }).fill(credentials.username);
    await page.getByRole('textbox', { name: 'Password' }).fill(credentials.password);
  }
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in and waits for the first page. */
export async function signedIn(page, credentials) {
  await signIn(page, credentials);
  await page.getByRole('navigation', { name: 'Sections', exact: true }).waitFor();
}

/** The API, as the administrator (for setting up and checking what the UI did). */
export async function admin(method, path, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

/** A user with a password, made by the administrator. */
export async function makeUser(username, password = `${username}-password`) {
  const made = await admin('POST', '/auth/register', { username, password });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return { username, password };
}

export async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Replaces what the code editor holds, as a user pasting would. */
export async function replaceCode(page, code) {
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(code);
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical findings on the page as it is now. */
export async function accessibilityProblems(page) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const found = await axe.run(document, { resultTypes: ['violations'] });
    return found.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ').slice(0, 160)}`),
    }));
  });
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * Presses Tab until the focus comes back round and returns the controls that never got it:
 * every visible link, button and form control must be reachable by keyboard.
 */
export async function unreachableByKeyboard(page, { limit = 400 } = {}) {
  await page.evaluate(() => {
    document.querySelectorAll('[data-kb-seen]').forEach((e) => e.removeAttribute('data-kb-seen'));
    document.querySelectorAll('[data-kb-id]').forEach((e) => e.removeAttribute('data-kb-id'));
    const controls = document.querySelectorAll('a[href], button, input, select, textarea, [contenteditable="true"], [tabindex]:not([tabindex="-1"])');
    let n = 0;
    for (const element of controls) {
      const style = getComputedStyle(element);
      const box = element.getBoundingClientRect();
      const visible = style.visibility !== 'hidden' && style.display !== 'none' && (box.width > 0 || box.height > 0);
      const radioSibling = element.type === 'radio' && !element.checked;
      if (visible && !element.disabled && !radioSibling && !element.closest('dialog:not([open])')) {
        element.setAttribute('data-kb-id', String(n++));
      }
    }
    document.activeElement?.blur?.();
  });
  let first = null;
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => {
      const active = document.activeElement;
      if (!active || active === document.body) return null;
      // Inside the code editor Tab indents; Escape then Tab leaves it, as its hint says.
      if (active.classList.contains('cm-content')) active.setAttribute('data-kb-in-editor', '1');
      active.setAttribute('data-kb-seen', '1');
      return active.getAttribute('data-kb-id') ?? active.tagName + ':' + (active.id || active.textContent?.slice(0, 20));
    });
    const inEditor = await page.evaluate(() => document.activeElement?.classList.contains('cm-content'));
    if (inEditor) await page.keyboard.press('Escape');
    if (id !== null && id === first) break;
    if (first === null && id !== null) first = id;
  }
  return page.evaluate(() => [...document.querySelectorAll('[data-kb-id]:not([data-kb-seen])')]
    .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} “${(e.getAttribute('aria-label') ?? e.textContent ?? '').trim().slice(0, 40)}”`));
}
