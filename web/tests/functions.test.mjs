// A JavaScript function made, changed, invoked and deleted entirely through the UI; its env
// vars set in the form reach it; the API's refusals show next to the field they concern.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { admin, launch, makeUser, replaceCode, screenshot, signedIn, withPage } from './support.mjs';

const GREET = `exports.handler = async (event) => {
  console.log('greeting ' + event.name);
  return { greeting: process.env.GREETING + ', ' + event.name };
};
`;
const GREET_V2 = `exports.handler = async (event) => {
  return { greeting: process.env.GREETING + ', ' + event.name + '!', version: 2 };
};
`;

let browser;
let bob;
before(async () => {
  browser = await launch();
  bob = await makeUser('bob');
});
after(() => browser?.close());

const section = (page, name) =>
  page.getByRole('navigation', { name: 'Function sections' }).getByRole('link', { name }).click();

test('a JavaScript function: create, invoke with env vars, edit, versions, delete', () => withPage(browser, 'functions', async (page) => {
  await signedIn(page, bob);
  await page.getByText('No functions yet').waitFor();
  await page.getByRole('link', { name: 'Create your first function' }).click();

  // A refusal from the API lands next to its field.
  await page.getByLabel('Name').fill('bad name!');
  await page.getByRole('button', { name: 'Create function' }).click();
  await page.locator('.field-invalid').filter({ hasText: 'invalid function name' }).getByLabel('Name').waitFor();

  await page.getByLabel('Name').fill('greet');
  await page.getByLabel('Language').selectOption('javascript');
  await replaceCode(page, GREET);
  await page.getByRole('button', { name: 'Add variable' }).click();
  await page.getByLabel('Name of variable 1').fill('GREETING');
  await page.getByLabel('Value of variable 1').fill('Hola');
  await screenshot(page, 'flow-function-new');
  await page.getByRole('button', { name: 'Create function' }).click();
  await page.getByRole('heading', { level: 1, name: 'greet' }).waitFor();
  await page.getByText('JavaScript · sandbox · version 1').waitFor();

  await section(page, 'Test');
  await page.getByLabel('Event (JSON)').fill('{"name": "Ada"');
  await page.getByRole('button', { name: 'Invoke' }).click();
  await page.locator('.field-invalid').filter({ hasText: 'not valid JSON' }).waitFor();
  await page.getByLabel('Event (JSON)').fill('{"name": "Ada"}');
  await page.getByRole('button', { name: 'Invoke' }).click();
  await page.locator('.invoke-answer .verdict[data-status="success"]').waitFor();
  assert.deepEqual(JSON.parse(await page.getByTestId('result').textContent()), { greeting: 'Hola, Ada' });
  assert.match(await page.getByTestId('logs').textContent(), /greeting Ada/);

  // Edit: leaving with unsaved changes asks first; Ctrl+S in the editor saves a new version.
  await section(page, 'Code');
  await replaceCode(page, GREET_V2);
  await page.getByText('Unsaved changes').waitFor();
  const asked = [];
  page.once('dialog', (dialog) => { asked.push(dialog.message()); dialog.dismiss(); });
  await page.getByRole('navigation', { name: 'Sections', exact: true }).getByRole('link', { name: 'Invocations' }).click();
  await page.waitForFunction(() => window.location.hash.includes('/functions/greet'));
  assert.match(asked[0], /greet has unsaved changes/);
  await page.getByText('Unsaved changes').waitFor();

  // The session ends meanwhile (revoked elsewhere): signing in again keeps the edit.
  const sessions = (await admin('GET', '/auth/tokens?user=bob')).body.filter((t) => t.kind === 'session' && t.active);
  for (const session of sessions) await admin('DELETE', `/auth/tokens/${session.id}`);
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+S');
  const again = page.getByRole('dialog', { name: 'Sign in again' });
  await again.getByText('Your session was ended').waitFor();
  await again.getByRole('textbox', { name: 'User name' }).fill(bob.username);
  await again.getByRole('textbox', { name: 'Password' }).fill(bob.password);
  await again.getByRole('button', { name: 'Sign in' }).click();
  await again.waitFor({ state: 'hidden' });
  await page.getByText('Unsaved changes').waitFor();
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+S');
  await page.getByText('Saved as version 2.').waitFor();
  await page.getByText('JavaScript · sandbox · version 2').waitFor();

  // A setting out of range is refused next to it, and nothing is saved.
  await section(page, 'Configuration');
  await page.getByLabel('Timeout (seconds)').fill('5000');
  await page.getByRole('button', { name: 'Save configuration' }).click();
  await page.locator('.field-invalid').filter({ hasText: 'timeout 5000 is out of range' }).getByLabel('Timeout (seconds)').waitFor();
  await screenshot(page, 'flow-function-configuration');
  await page.getByLabel('Timeout (seconds)').fill('10');
  await page.getByRole('button', { name: 'Save configuration' }).click();
  await page.getByText('Saved as version 3.').waitFor();

  await section(page, 'Test');
  await page.getByRole('button', { name: 'Invoke' }).click();
  await page.locator('.invoke-answer .verdict[data-status="success"]').waitFor();
  assert.deepEqual(JSON.parse(await page.getByTestId('result').textContent()), { greeting: 'Hola, Ada!', version: 2 });

  // Every version, with its own code.
  await section(page, 'Versions');
  await page.getByRole('button', { name: 'Version 3 (current)' }).waitFor();
  await page.getByRole('button', { name: 'Version 1', exact: true }).click();
  await page.getByRole('heading', { name: 'Version 1' }).waitFor();
  await page.locator('.version-code .cm-content').getByText("console.log('greeting ' + event.name);").waitFor();
  await screenshot(page, 'flow-function-versions');

  await section(page, 'Invocations');
  // This section's rows, not the versions table's that may still be on the page.
  const invocations = page.locator('.invocation-list tbody tr');
  await invocations.nth(1).waitFor();
  assert.equal(await invocations.count(), 2);

  // Delete asks first; cancelling keeps it.
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete greet?' });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await admin('GET', '/functions/greet')).status, 200);
  await page.getByRole('button', { name: 'Delete' }).click();
  await dialog.getByRole('button', { name: 'Delete function' }).click();
  await page.getByRole('heading', { level: 1, name: 'Functions' }).waitFor();
  await page.getByText('No functions yet').waitFor();
  assert.equal((await admin('GET', '/functions/greet')).status, 404);
}));

test('the list: 24-hour figures, sparklines and search', () => withPage(browser, 'function-list', async (page) => {
  for (const name of ['alpha', 'beta', 'gamma']) {
    const made = await admin('POST', '/functions', {
      name, language: 'python', route: `/${name}`,
      code: name === 'gamma' ? 'def handler(event):\n    raise ValueError("no")\n' : 'def handler(event):\n    return 1\n',
    });
    assert.equal(made.status, 201);
  }
  for (const name of ['alpha', 'alpha', 'gamma']) await admin('POST', `/functions/${name}/invoke`, {});
  await signedIn(page, { token: process.env.KINDLING_ADMIN_TOKEN });
  const row = (name) => page.locator('tbody tr').filter({ has: page.getByRole('link', { name, exact: true }) });
  await row('alpha').getByText('Success').waitFor();
  assert.equal(await row('alpha').locator('td.num').nth(1).textContent(), '2');
  assert.equal(await row('alpha').locator('td.num').nth(2).textContent(), '0.0 %');
  await row('gamma').getByText('Error').waitFor();
  assert.equal(await row('gamma').locator('td.num').nth(2).textContent(), '100.0 %');
  assert.equal(await row('beta').locator('td.num').nth(1).textContent(), '0');
  assert.equal(await page.locator('svg.sparkline').count(), 3);
  await screenshot(page, 'flow-functions');

  await page.getByRole('searchbox', { name: 'Search functions' }).fill('gam');
  await page.getByText('1 of 3 functions').waitFor();
  assert.equal(await page.locator('tbody tr').count(), 1);
}));
