// The GraphQL IDE in a real browser: Debian's Chromium, headless, driven by playwright-core.
// The IDE loads from the gateway alone (its CSP allows nothing else), runs a query with a
// header typed into its header editor, and streams a subscription whose events arrive as
// they are published.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Publisher, forwardedAuthorizations, httpURL, idle, newToken, sleep, subscribed, until } from './lib/gateway.mjs';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

describe('GraphQL IDE in Chromium', () => {
  let browser;
  let page;
  let pub;
  const problems = [];

  before(async () => {
    assert.ok(existsSync(executablePath), `${executablePath} is missing: apt-get install -y chromium (.ci/run installs it)`);
    browser = await chromium.launch({
      executablePath,
      // The machine has no internet: without the background-networking flags Chromium
      // keeps trying to reach Google's services.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A subscription's stream is aborted on purpose when it is stopped.
      if (!(r.method() === 'POST' && r.failure()?.errorText === 'net::ERR_ABORTED')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(new URL(httpURL).origin)) problems.push(`request to another origin: ${r.url()}`);
    });
    // Content-Security-Policy violations are reported to the page as events.
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    pub = await Publisher.connect();
  });
  after(async () => {
    await browser?.close();
    await pub?.close();
  });

  /**
   * setEditor replaces the text of one of GraphiQL's Monaco editors, named by the end of
   * its model URI: operation.graphql (the query editor), request-headers.json.
   */
  async function setEditor(uri, text) {
    await page.locator(`.monaco-editor[data-uri$="${uri}"]`).click({ timeout: 10000 });
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    // insertText types no keys, so the editor adds no closing brackets of its own.
    await page.keyboard.insertText(text);
    // GraphiQL takes the operation editor's text into its state after a short debounce,
    // and the run button runs what the state holds: a quick click ran the previous
    // operation (seen on a fast CI machine). It stores the operation once taken, so wait
    // for that. (Headers are not stored: the header editor is read when the run starts.)
    if (uri === 'operation.graphql') {
      await page.waitForFunction((t) => localStorage.getItem('graphiql:query') === t, text, { timeout: 10000 });
    }
  }

  /** result is the text of the IDE's result editor (Monaco renders spaces as U+00A0). */
  const result = async () => (await page.locator('.result-window').innerText()).replace(/\u00a0/g, ' ');

  /**
   * showUpdate publishes an event of employee id until the IDE's result shows text: the
   * first events may be published before the gateway's broker consumer is subscribed.
   */
  async function showUpdate(id, text) {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      await pub.employeeUpdated(id);
      for (let i = 0; i < 10; i++) {
        if ((await result()).includes(text)) return;
        await sleep(30);
      }
    }
    throw new Error(`timed out waiting for the IDE to show ${text}`);
  }

  test('loads from the gateway alone and shows the schema', async () => {
    const res = await page.goto(httpURL);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-security-policy'], /default-src 'none'/);
    await page.waitForSelector('.graphiql-execute-button', { timeout: 30000 });
    await page.click('[aria-label="Show Documentation Explorer"]');
    await page.getByText('Query', { exact: true }).first().waitFor({ timeout: 15000 });
    await page.click('[aria-label="Hide Documentation Explorer"]');
    assert.deepEqual(problems, []);
  });

  test('runs a query with a header from its header editor', async () => {
    const token = newToken('ide');
    await setEditor('operation.graphql', '{ employee(id: 1) { id name } }');
    await page.getByText('Headers', { exact: true }).click();
    await setEditor('request-headers.json', JSON.stringify({ Authorization: token }));
    await page.click('.graphiql-execute-button');
    await until(async () => (await result()).includes('Alice Johnson'), 'the query result', 15000);
    assert.deepEqual(JSON.parse(await result()), { data: { employee: { id: 1, name: 'Alice Johnson' } } });
    assert.ok((await forwardedAuthorizations()).includes(token), 'the header reached the subgraph');
    assert.deepEqual(problems, []);
  });

  test('runs a subscription and shows each event as it arrives, until stopped', async () => {
    await idle();
    await setEditor('operation.graphql', 'subscription { employeeUpdates { id name } }');
    await page.click('.graphiql-execute-button');
    await subscribed(1);
    await showUpdate(2, 'Bilal Khan');
    await showUpdate(3, 'Chen Wei');
    assert.deepEqual(JSON.parse(await result()), { data: { employeeUpdates: { id: 3, name: 'Chen Wei' } } });

    await page.click('.graphiql-execute-button'); // the run button stops a running subscription
    await idle();
    assert.deepEqual(problems, []);
  });
});
