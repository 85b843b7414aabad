// The browser session: an HttpOnly, SameSite=Strict cookie that page scripts cannot read, whose
// changes need the CSRF proof; strict security headers on every dashboard file; another site
// can make the browser send nothing that acts as the user.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { admin, BASE, launch, makeUser, signedIn, withPage } from './support.mjs';

let browser;
let erin;
before(async () => {
  browser = await launch();
  erin = await makeUser('erin');
});
after(() => browser?.close());

test('the session cookie is HttpOnly and SameSite=Strict, and page scripts never see it', () => withPage(browser, 'cookie', async (page) => {
  await signedIn(page, erin);
  const cookies = (await page.context().cookies()).filter((c) => c.name === 'kindling_session');
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  assert.ok(cookies[0].expires > Date.now() / 1000, 'the session expires');
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.equal(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)), '{}{}');

  // The session is listed with the user's tokens, as a session.
  const listed = await page.evaluate(async () => (await fetch('/auth/tokens')).json());
  assert.deepEqual(listed.map((t) => t.kind), ['session']);
}));

test('a change that carries the cookie but not the CSRF proof is refused', () => withPage(browser, 'csrf', async (page) => {
  await signedIn(page, erin);
  const attempt = (headers) => page.evaluate(async (extra) => {
    const response = await fetch('/functions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...extra },
      body: JSON.stringify({ name: 'sneaky', language: 'python', code: 'def handler(e):\n    return 1\n' }),
    });
    return { status: response.status, body: await response.json() };
  }, headers);
  const without = await attempt({});
  assert.equal(without.status, 403);
  assert.equal(without.body.error.code, 'csrf_rejected');
  const wrong = await attempt({ 'X-Kindling-CSRF': 'not-the-proof' });
  assert.equal(wrong.status, 403);
  assert.equal((await admin('GET', '/functions')).body.length, 0, 'nothing was created');

  // With the proof the page holds (from GET /auth/session), the same request goes through.
  const proof = await page.evaluate(async () => (await (await fetch('/auth/session')).json()).csrf_token);
  const proven = await attempt({ 'X-Kindling-CSRF': proof });
  assert.equal(proven.status, 201, JSON.stringify(proven.body));

  // A session is not an API token: its text does not work as a bearer token either.
  const [cookie] = (await page.context().cookies()).filter((c) => c.name === 'kindling_session');
  const asBearer = await fetch(BASE + '/functions', { headers: { Authorization: `Bearer ${cookie.value}` } });
  assert.equal(asBearer.status, 401);
  assert.equal((await asBearer.json()).error.code, 'session_not_token');
}));

test("another site's page cannot act with the session", () => withPage(browser, 'cross-site', async (page) => {
  await signedIn(page, erin);
  // localhost and 127.0.0.1 are different sites: a page on one posts a form to the other, as
  // an attacker's page would. SameSite=Strict keeps the cookie out of it.
  const other = BASE.replace('127.0.0.1', 'localhost');
  await page.goto(other + '/health');
  const target = BASE + '/functions/invoke';
  await page.evaluate((action) => {
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = action;
    form.enctype = 'text/plain';
    const input = document.createElement('input');
    input.name = '[{"function":"x","event":{"a":"';
    input.value = '"}}]';
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  }, target);
  await page.waitForURL(target);
  const answer = JSON.parse(await page.locator('body').textContent());
  assert.equal(answer.error.code, 'missing_token');
}));

test('every dashboard file carries strict security headers', async () => {
  const page = await fetch(BASE + '/');
  const policy = page.headers.get('content-security-policy');
  assert.ok(policy, 'the page has a Content-Security-Policy');
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
  assert.match(policy, /frame-ancestors 'none'/);
  assert.match(policy, /script-src 'self'/);
  assert.match(policy, /default-src 'none'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('cache-control'), 'no-store');
  const html = await page.text();
  const nonce = policy.match(/'nonce-([^']+)'/)[1];
  assert.ok(html.includes(`nonce="${nonce}"`), "the page carries its answer's nonce");
  const again = (await fetch(BASE + '/')).headers.get('content-security-policy');
  assert.notEqual(again, policy, 'each answer has a nonce of its own');

  const asset = html.match(/src="(\/assets\/main-[^"]+\.js)"/)[1];
  const script = await fetch(BASE + asset, { headers: { 'Accept-Encoding': 'br, gzip' } });
  assert.equal(script.status, 200);
  assert.equal(script.headers.get('content-encoding'), 'br');
  assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(script.headers.get('x-content-type-options'), 'nosniff');
  assert.match(script.headers.get('content-type'), /^text\/javascript/);
  const cached = await fetch(BASE + asset, { headers: { 'If-None-Match': script.headers.get('etag') } });
  assert.equal(cached.status, 304);
});
