// Seed 004's end-to-end log, in the browser: sign in; create hello.py; execute it with
// args ["Alice"]; execute it with gVisor; a timeout; a wrong password or token is blocked; a
// valid sign-in shows the metrics, charted from the invocations just made.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  admin, BASE, launch, makeUser, replaceCode, screenshot, signedIn, signIn, withPage,
} from './support.mjs';

const HELLO = `import sys

name = sys.argv[1] if len(sys.argv) > 1 else "World"
print(f"Hello, {name}!")
`;
const INFINITE = `def handler(event, context):
    while True:
        pass
`;

let browser;
let alice;
before(async () => {
  browser = await launch();
  alice = await makeUser('alice');
});
after(() => browser?.close());

async function createFunction(page, name, code, { timeout } = {}) {
  await page.getByRole('link', { name: 'New function' }).first().click();
  await page.getByLabel('Name').fill(name);
  await replaceCode(page, code);
  if (timeout) await page.getByLabel('Timeout (seconds)').fill(String(timeout));
  await page.getByRole('button', { name: 'Create function' }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

async function invoke(page, { args, runtime } = {}) {
  await page.getByRole('navigation', { name: 'Function sections' }).getByRole('link', { name: 'Test' }).click();
  if (args) await page.getByLabel('Arguments').fill(args.join('\n'));
  if (runtime) await page.getByLabel('Runtime').selectOption({ label: runtime });
  await page.getByRole('button', { name: 'Invoke' }).click();
  const verdict = page.locator('.invoke-answer .verdict');
  await verdict.waitFor({ timeout: 30_000 });
  return verdict;
}

test('a wrong password or token is blocked with a clear message', () => withPage(browser, 'blocked', async (page) => {
  await signIn(page, { username: 'alice', password: 'not her password' });
  await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();
  await screenshot(page, 'seed004-sign-in-refused');
  await signIn(page, { token: 'secret123' });
  await page.getByRole('alert').filter({ hasText: 'not a Kindling API token' }).waitFor();
  await signIn(page, { token: 'kdl_0123456789abcdef_' + 'A'.repeat(43) });
  await page.getByRole('alert').filter({ hasText: 'no such API token' }).waitFor();
  // Still on the sign-in page: nothing of the dashboard is reachable.
  assert.equal(await page.getByRole('navigation', { name: 'Sections', exact: true }).count(), 0);
  const asked = await page.evaluate(async () => (await fetch('/functions')).status);
  assert.equal(asked, 401);
}));

test("seed 004's log: hello.py with args, on gVisor, a timeout, then the metrics", () => withPage(browser, 'seed004', async (page) => {
  await signedIn(page, alice);
  await screenshot(page, 'seed004-functions-empty');

  await createFunction(page, 'hello', HELLO);
  const withArgs = await invoke(page, { args: ['Alice'] });
  assert.equal(await withArgs.getAttribute('data-status'), 'success');
  assert.match(await page.getByTestId('result').textContent(), /Hello, Alice!/);
  await screenshot(page, 'seed004-function-test');

  const onGvisor = await invoke(page, { args: ['Alice'], runtime: 'gVisor' });
  assert.equal(await onGvisor.getAttribute('data-status'), 'success', await onGvisor.textContent());
  assert.match(await page.getByTestId('result').textContent(), /Hello, Alice!/);
  await page.locator('.facts').getByText('gvisor').waitFor();

  await page.getByRole('navigation', { name: 'Sections', exact: true }).getByRole('link', { name: 'Functions' }).click();
  await createFunction(page, 'infinite', INFINITE, { timeout: 2 });
  const timedOut = await invoke(page);
  assert.equal(await timedOut.getAttribute('data-status'), 'timeout');
  assert.match(await timedOut.textContent(), /Timed out/);
  await screenshot(page, 'seed004-function-timeout');

  // Sign out: the session ends on the server, so its cookie no longer opens anything.
  const [cookie] = (await page.context().cookies()).filter((c) => c.name === 'kindling_session');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const replayed = await fetch(BASE + '/functions', { headers: { Cookie: `kindling_session=${cookie.value}` } });
  assert.equal(replayed.status, 401);

  // A valid sign-in: the metrics, charted with what just ran.
  await signedIn(page, alice);
  await page.getByRole('navigation', { name: 'Sections', exact: true }).getByRole('link', { name: 'Metrics' }).click();
  await page.getByText('Last hour').click();
  const invocations = page.locator('.stat').filter({ hasText: 'Invocations' }).locator('.stat-value');
  await invocations.filter({ hasText: /^3$/ }).waitFor();
  await page.locator('.stat').filter({ hasText: 'Success rate' }).getByText(/1 timeout\b/).waitFor();
  const charts = page.locator('.chart-canvas[data-drawn-ms] canvas');
  await charts.nth(2).waitFor();
  assert.equal(await charts.count(), 3);
  // The charts carry the data: the invocations chart's sentence counts the three.
  await page.getByText(/^3 invocations and \d+ cold starts? over the last hour/).waitFor({ state: 'attached' });
  await screenshot(page, 'seed004-metrics');

  const recorded = await admin('GET', '/invocations?limit=10');
  assert.deepEqual(recorded.body.map((i) => i.status).sort(), ['success', 'success', 'timeout']);
}));
