// Every page: axe-core finds no serious or critical violation, and every control on it is
// reachable by keyboard. Each page's screenshot is saved.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  accessibilityProblems, admin, ADMIN_TOKEN, BASE, launch, screenshot, signedIn, unreachableByKeyboard, withPage,
} from './support.mjs';

let browser;
let invocationId;
before(async () => {
  browser = await launch();
  const made = await admin('POST', '/functions', {
    name: 'hello', language: 'python', route: '/hello', env: { GREETING: 'Hello' },
    code: 'import os\n\ndef handler(event, context):\n    print("saying hello")\n    return {"message": os.environ["GREETING"] + ", " + event.get("name", "World")}\n',
  });
  assert.equal(made.status, 201);
  await admin('PUT', '/functions/hello', { timeout: 10 });
  // A few more, so that lists, figures and screenshots show something of each kind.
  await admin('POST', '/functions', {
    name: 'add', language: 'javascript', code: 'exports.handler = async (event) => event.a + event.b;\n',
  });
  await admin('POST', '/functions', {
    name: 'parse-order', language: 'python',
    code: 'import json\n\ndef handler(event, context):\n    order = json.loads(event["body"])\n    return {"items": len(order["items"])}\n',
  });
  for (let i = 0; i < 4; i++) await admin('POST', '/functions/add/invoke', { a: i, b: 2 });
  await admin('POST', '/functions/parse-order/invoke', { body: '{"items": [1, 2]}' });
  await admin('POST', '/functions/parse-order/invoke', { body: 'not json' });
  for (const name of ['Ada', 'Grace', 'Alan', 'Barbara']) {
    const answer = await admin('POST', '/functions/hello/invoke', { name });
    invocationId = answer.body.invocation_id;
  }
});
after(() => browser?.close());

const PAGES = [
  { name: 'functions', path: '#/functions', ready: 'tbody tr' },
  { name: 'new-function', path: '#/new-function', ready: '.cm-content' },
  { name: 'function-code', path: '#/functions/hello/code', ready: '.cm-content' },
  { name: 'function-configuration', path: '#/functions/hello/configuration', ready: '#f-timeout' },
  { name: 'function-test', path: '#/functions/hello/test', ready: '#event', invoke: true },
  { name: 'function-invocations', path: '#/functions/hello/invocations', ready: 'tbody tr' },
  { name: 'function-metrics', path: '#/functions/hello/metrics', ready: '.chart-canvas[data-drawn-ms] canvas' },
  { name: 'function-versions', path: '#/functions/hello/versions', ready: '.version-code .cm-content' },
  { name: 'invocations', path: '#/invocations', ready: 'tbody tr' },
  { name: 'invocation', path: () => `#/invocations/${invocationId}`, ready: '.verdict' },
  { name: 'metrics', path: '#/metrics', ready: '.chart-canvas[data-drawn-ms] canvas' },
  { name: 'system', path: '#/system', ready: '.runtime' },
  { name: 'account', path: '#/account', ready: 'tbody tr' },
];

async function check(page, name) {
  const problems = await accessibilityProblems(page);
  assert.deepEqual(problems, [], `axe on ${name}`);
  const unreachable = await unreachableByKeyboard(page);
  assert.deepEqual(unreachable, [], `controls on ${name} that Tab never reaches`);
}

test('the sign-in page', () => withPage(browser, 'a11y-sign-in', async (page) => {
  await page.goto(BASE + '/');
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await screenshot(page, 'sign-in');
  await check(page, 'sign-in');
  // Signing in by keyboard alone: Tab to the fields, type, Enter.
  await page.getByRole('radio', { name: 'Password' }).focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getByRole('radio', { name: 'API token' }).isChecked(), true);
  await page.keyboard.press('Tab');
  await page.keyboard.type(ADMIN_TOKEN);
  await page.keyboard.press('Enter');
  await page.getByRole('navigation', { name: 'Sections', exact: true }).waitFor();
}));

for (const { name, path, ready, invoke } of PAGES) {
  test(`the ${name} page`, () => withPage(browser, `a11y-${name}`, async (page) => {
    await signedIn(page, { token: ADMIN_TOKEN });
    await page.goto(BASE + '/' + (typeof path === 'function' ? path() : path));
    await page.locator(ready).first().waitFor();
    if (invoke) {
      await page.getByRole('button', { name: 'Invoke' }).click();
      await page.locator('.invoke-answer .verdict').waitFor();
    }
    await screenshot(page, name);
    await check(page, name);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  }));
}

test('narrow screens scroll no page sideways', () => withPage(browser, 'a11y-narrow', async (page) => {
  await signedIn(page, { token: ADMIN_TOKEN });
  for (const path of ['#/functions', '#/functions/hello/test', '#/invocations', '#/metrics', '#/system', '#/account']) {
    await page.goto(BASE + '/' + path);
    await page.locator('main h1').first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 400, `${path} is ${width} px wide on a 400 px screen`);
    await screenshot(page, `narrow-${path.replace(/[#/]+/g, '-').replace(/^-/, '')}`);
  }
}, { viewport: { width: 400, height: 800 } }));

test('the confirm dialog', () => withPage(browser, 'a11y-dialog', async (page) => {
  await signedIn(page, { token: ADMIN_TOKEN });
  await page.goto(BASE + '/#/functions/hello/code');
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete hello?' });
  await dialog.waitFor();
  assert.deepEqual(await accessibilityProblems(page), [], 'axe on the dialog');
  // The focus is in the dialog, on Cancel; Escape closes it and nothing is deleted.
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await admin('GET', '/functions/hello')).status, 200);
}));
