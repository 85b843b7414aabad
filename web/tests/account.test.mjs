// The Account page: a token made there works with curl and stops working once revoked there;
// sessions are listed with the tokens; administrators make users and reset their tokens.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, BASE, launch, makeUser, screenshot, signedIn, withPage } from './support.mjs';

let browser;
let carol;
before(async () => {
  browser = await launch();
  carol = await makeUser('carol');
});
after(() => browser?.close());

/** The real curl, as a user would run it: the HTTP status and the body. */
function curl(path, token) {
  const out = execFileSync('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${token}`, BASE + path], { encoding: 'utf8' });
  const lines = out.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, body: JSON.parse(lines.join('\n')) };
}

test('a token made on the Account page works with curl until it is revoked there', () => withPage(browser, 'account', async (page) => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await signedIn(page, carol);
  await page.getByRole('navigation', { name: 'Sections', exact: true }).getByRole('link', { name: 'Account' }).click();
  await page.getByText('this browser').waitFor();

  await page.getByLabel('Name', { exact: true }).fill('ci');
  await page.getByLabel('Expires').selectOption({ label: 'In 7 days' });
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = page.getByLabel('The new token');
  await secret.waitFor();
  const token = await secret.inputValue();
  assert.match(token, /^kdl_[0-9a-f]{16}_/);
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
  await screenshot(page, 'flow-account');

  const worked = curl('/auth/me', token);
  assert.equal(worked.status, 200);
  assert.equal(worked.body.username, 'carol');

  // Shown once: after "Done" the page has no way to show it again.
  await page.getByRole('button', { name: 'Done' }).click();
  assert.equal(await page.getByText(token).count(), 0);
  const row = page.locator('tbody tr').filter({ hasText: 'ci' });
  await row.getByText('Active').waitFor();
  await row.getByRole('button', { name: /^Revoke ci/ }).click();
  await page.getByRole('dialog', { name: 'Revoke “ci”?' }).getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('Revoked').waitFor();

  const refused = curl('/auth/me', token);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'token_revoked');
}));

test('administrators make users and reset their tokens', () => withPage(browser, 'users', async (page) => {
  await signedIn(page, { token: ADMIN_TOKEN });
  await page.getByRole('navigation', { name: 'Sections', exact: true }).getByRole('link', { name: 'Account' }).click();
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await page.getByLabel('User name').fill('dave');
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.locator('.field-invalid').filter({ hasText: 'a password has 8 to' }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill('dave-password');
  await page.getByRole('button', { name: 'Create user' }).click();
  const dave = page.locator('tbody tr').filter({ has: page.getByRole('rowheader', { name: 'dave' }) });
  await dave.waitFor();
  await screenshot(page, 'flow-users');

  await dave.getByRole('button', { name: 'Reset token of dave' }).click();
  await page.getByRole('dialog', { name: 'Reset the tokens of dave?' }).getByRole('button', { name: 'Reset token' }).click();
  const token = await page.getByLabel('The new token').inputValue();
  const me = curl('/auth/me', token);
  assert.equal(me.status, 200);
  assert.equal(me.body.username, 'dave');
}));
