// The web page end to end, in Debian's chromium driven by playwright-core:
// psabridge with a fake PSA that fails, events posted, the page opened, the
// dead job found, the PSA fixed, retry clicked and the job seen done; then
// the other actions, a phone-size pass, and the page's security rules.
// Run by tests/e2e/run.sh, which installs what this needs and sets:
//   E2E_NODE_DIR     where playwright-core was installed (npm --prefix)
//   E2E_SCREENSHOTS  where the screenshots go (in the build tree)
//   E2E_CHROMIUM     the browser (/usr/bin/chromium)
//   E2E_STACK        tests/e2e/stack.py: the fake PSA and psabridge
//   PSABRIDGE_BIN, PSABRIDGE_TEST_DATA
// Everything it starts is stopped by pid; the whole test is bounded.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TOP = path.dirname(path.dirname(HERE));
const LIMIT_MS = 110000;
const env = (k) => {
  if (!process.env[k]) throw new Error(k + ' is not set (run tests/e2e/run.sh)');
  return process.env[k];
};
const require = createRequire(path.join(env('E2E_NODE_DIR'), 'package.json'));
const { chromium } = require('playwright-core');
const SHOTS = env('E2E_SCREENSHOTS');
const DATA = env('PSABRIDGE_TEST_DATA');

let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  checks++;
  console.log('ok ' + checks + ' - ' + what);
}

// --- the back end: tests/e2e/stack.py over a pipe ---------------------------

class Stack {
  async start() {
    this.proc = spawn('python3', [env('E2E_STACK')], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, E2E_DAEMON_LOG: path.join(SHOTS, 'daemon.log') }
    });
    this.lines = [];
    this.waiters = [];
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l); else this.lines.push(l);
    });
    this.info = JSON.parse(await this.line(30000));
    return this.info;
  }

  line(ms) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('stack.py said nothing for ' +
        ms + ' ms')), ms);
      this.waiters.push((l) => { clearTimeout(t); resolve(l); });
    });
  }

  async send(cmd) {
    this.proc.stdin.write(cmd + '\n');
    const got = await this.line(10000);
    if (got !== 'ok ' + cmd) throw new Error('stack.py: ' + cmd + ': ' + got);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    try { this.proc.stdin.end('quit\n'); } catch (e) { /* gone */ }
    const t = setTimeout(() => {
      try { process.kill(this.proc.pid, 'SIGKILL'); } catch (e) { /* gone */ }
    }, 15000);
    await this.exited;
    clearTimeout(t);
  }
}

async function admin(info, method, p) {
  const r = await fetch(info.admin + p, { method,
    headers: { Authorization: 'Bearer ' + info.admin_token } });
  if (!r.ok) throw new Error(method + ' ' + p + ': HTTP ' + r.status);
  return r.json();
}

async function postEvent(info, body) {
  const r = await fetch(info.ingest + info.hook_path, { method: 'POST',
    headers: { Authorization: 'Bearer ' + info.hook_token,
      'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body) });
  check(r.status === 202, 'event ' + (body.event || 'fixture') + ' queued (' +
    r.status + ')');
  return (await r.json()).id;
}

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const fixture = (name) => readFileSync(path.join(DATA, 'defensx', name + '.json'),
  'utf8');
const MAPPED = 'c062a202-e090-4e57-ba88-d74dfd2e3455';
const HOSTILE = '<img src=x onerror="window.__xss=1">';

async function postScenario(info) {
  const ids = {};
  ids.win10 = await postEvent(info, fixture('agent-uninstall'));
  ids.mac = await postEvent(info, { event: 'Agent.Uninstall', time: 1700000002,
    payload: { type: 'Agent', id: 'e2e-mac', customer_id: MAPPED,
      platform: 'macOS', hostname: 'MAC-LAPTOP-7' } });
  ids.hostile = await postEvent(info, { event: 'Agent.Uninstall', time: 1700000003,
    payload: { type: 'Agent', id: 'e2e-x', customer_id: MAPPED,
      platform: 'Windows', hostname: HOSTILE } });
  ids.request = await postEvent(info, fixture('userrequest-create'));
  ids.deleted = await postEvent(info, fixture('agent-delete'));
  ids.held = await postEvent(info, { event: 'Agent.Uninstall', time: 1700000004,
    payload: { type: 'Agent', id: 'e2e-held', customer_id: 'cust-not-in-table',
      platform: 'Windows', hostname: 'NEW-CLIENT-PC' } });
  ids.unrouted = await postEvent(info, fixture('agent-create'));
  // 3 to psa (400: dead), 1 to legacy (410: dead, disabled), 1 done, 1 held.
  await until('4 dead jobs', async () =>
    (await admin(info, 'GET', '/api/v1/jobs?state=dead')).length >= 4);
  return ids;
}

// --- the page ------------------------------------------------------------------

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];

function watchConsole(page, errors) {
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    // A 401 is the page asking whether it needs the token: expected.
    if (m.type() === 'error' && !/status of 401/.test(m.text()))
      errors.push('console: ' + m.text());
  });
}

async function shot(page, name) {
  const file = path.join(SHOTS, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  console.log('# screenshot ' + file);
}

async function login(page, info, name) {
  const resp = await page.goto(info.admin + '/');
  await page.locator('#login').waitFor({ state: 'visible' });
  await shot(page, name + '-1-login');
  await page.fill('#token', info.admin_token);
  await page.click('#login-form button[type=submit]');
  await page.locator('#view h1', { hasText: 'Overview' }).waitFor();
  return resp;
}

async function noSideways(page, what) {
  const [sw, w] = await page.evaluate(() =>
    [document.documentElement.scrollWidth, window.innerWidth]);
  check(sw <= w + 1, what + ': nothing wider than the screen (' + sw + ' <= ' + w + ')');
}

async function text(page, sel) {
  return (await page.locator(sel).first().textContent()) || '';
}

async function laptop(browser, info, stack, ids) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  watchConsole(page, errors);
  page.setDefaultTimeout(15000);

  // The page and its headers; its files are the ones in web/.
  const resp = await page.goto(info.admin + '/');
  const h = resp.headers();
  check(resp.status() === 200, 'GET / answers 200 without a token');
  check(/default-src 'self'/.test(h['content-security-policy'] || '') &&
    /frame-ancestors 'none'/.test(h['content-security-policy']),
  'Content-Security-Policy: ' + h['content-security-policy']);
  check(h['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff');
  check(h['referrer-policy'] === 'no-referrer', 'Referrer-Policy: no-referrer');
  const served = await (await fetch(info.admin + '/ui/app.js')).text();
  const source = readFileSync(path.join(TOP, 'web', 'app.js'), 'utf8');
  check(served === source, 'the served app.js is web/app.js, embedded');
  check(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(/.test(source),
    'app.js writes no markup (no innerHTML, document.write, eval)');
  const api401 = await fetch(info.admin + '/api/v1/events');
  check(api401.status === 401, 'the API still wants the token (' + api401.status + ')');

  // Log in: a wrong token first.
  await page.locator('#login').waitFor({ state: 'visible' });
  await shot(page, 'laptop-1-login');
  await page.fill('#token', 'not-the-token');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error', { hasText: 'not the admin token' }).waitFor();
  check(true, 'a wrong token is refused');
  await page.fill('#token', info.admin_token);
  await page.click('#login-form button[type=submit]');
  await page.locator('#view h1', { hasText: 'Overview' }).waitFor();
  const where = await page.evaluate(() => ({
    session: sessionStorage.getItem('psabridge.admin_token'),
    local: localStorage.length, cookie: document.cookie
  }));
  check(!page.url().includes(info.admin_token), 'the token is not in the URL');
  check(where.session === info.admin_token && where.local === 0 && where.cookie === '',
    'the token is in sessionStorage only');

  // Overview: the dead jobs and the disabled target.
  const psaRow = page.locator('#targets tr[data-target="psa"]');
  await psaRow.waitFor();
  check((await psaRow.locator('td[data-label="Dead"]').textContent()).trim() === '3',
    'overview: psa has 3 dead jobs');
  check((await page.locator('#targets tr[data-target="legacy"] td[data-label="State"]')
    .textContent()).includes('disabled'), 'overview: legacy is disabled (410)');
  check((await text(page, '.stats')).includes('dead jobs'), 'overview: dead jobs counted');
  check(await page.locator('svg.bars').count() >= 2, 'overview: charts drawn');
  await shot(page, 'laptop-2-overview');

  // Events: dead ones, then by hostname.
  await page.click('#nav a[data-view="events"]');
  await page.locator('#view h1', { hasText: 'Events' }).waitFor();
  await page.selectOption('#job_state', 'dead');
  await page.click('.filters button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('job_state=dead'));
  await page.locator('#events tbody tr').first().waitFor();
  check(await page.locator('#events tbody tr').count() === 4, 'events: 4 with a dead job');
  check((await text(page, '#events')).includes(HOSTILE),
    'a hostile hostname is shown as text');
  check(await page.evaluate(() => window.__xss === undefined &&
    document.querySelector('#view img') === null), 'and runs nothing');
  await shot(page, 'laptop-3-events-dead');
  await page.fill('#host', 'win10');
  await page.click('.filters button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('host=win10'));
  await page.waitForFunction(() =>
    document.querySelectorAll('#events tbody tr').length === 2);
  check(true, 'events: the hostname filter leaves WIN10-4 (uninstall, delete)');
  await page.click('#events tr[data-event="' + ids.win10 + '"] a');

  // The event: rule and why, the attempt and the PSA's answer.
  const job = page.locator('article.job').first();
  await job.waitFor();
  check(await job.getAttribute('data-state') === 'dead', 'event: its job is dead');
  const why = await text(page, 'article.rule');
  check(why.includes('agent-uninstalled') &&
    why.includes('payload.platform =~ Windows|macOS'),
  'event: the rule that matched, with its matchers as written');
  const att = await text(page, 'table.attempts');
  check(att.includes('HTTP 400') && att.includes("Board 'Service Desk' does not exist"),
    'event: the attempt with its status and the PSA\'s answer');
  check((await text(page, 'pre.raw')).includes('fdceb72a-c274-4844-8b74-a0c74a8018e5'),
    'event: the raw callback');
  await shot(page, 'laptop-4-event-dead');

  // Fix the PSA, retry, see it done.
  await stack.send('fix');
  await job.locator('button', { hasText: 'Retry' }).click();
  await page.locator('#confirm[open]').waitFor();
  await shot(page, 'laptop-5-confirm');
  await page.click('#confirm-ok');
  await page.locator('#status .flash.ok', { hasText: 'will be sent again' }).waitFor();
  await page.locator('article.job[data-state="done"]').waitFor({ timeout: 20000 });
  const att2 = await text(page, 'table.attempts');
  check(/HTTP 200/.test(att2), 'after the fix and a retry the job is done (HTTP 200)');
  await shot(page, 'laptop-6-event-done');

  // Replay with the current rules: a new job, sent at once.
  await page.click('.toolbar button:has-text("Replay")');
  await page.click('#confirm-ok');
  await page.locator('#status .flash.ok', { hasText: '1 new job' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('article.job').length === 2);
  check(true, 'replay: the event has a second job');

  // Overview: retry the other dead jobs of psa, enable legacy.
  await page.click('#nav a[data-view="overview"]');
  await psaRow.locator('button', { hasText: 'Retry 2 dead jobs' }).click();
  check((await text(page, '#confirm-text')).includes('2 dead jobs of psa'),
    'bulk retry asks first');
  await page.click('#confirm-ok');
  await page.locator('#status .flash.ok', { hasText: '2 dead jobs of psa will be sent again' })
    .waitFor();
  await until('psa without dead jobs', async () => !(await admin(info, 'GET',
    '/api/v1/jobs?state=dead&target=psa')).length);
  check(true, 'bulk retry: psa has no dead job left');
  await page.locator('#targets tr[data-target="legacy"] button', { hasText: 'Enable' }).click();
  await page.click('#confirm-ok');
  await page.locator('#status .flash.ok', { hasText: 'target legacy enabled' }).waitFor();
  await page.locator('#targets tr[data-target="legacy"] td[data-label="State"]',
    { hasText: 'ok' }).waitFor();
  check(true, 'enable: legacy is ok again');
  await page.reload();
  await page.locator('#targets tr[data-target="psa"]').waitFor();
  check(await page.locator('#login').isHidden(), 'a reload keeps the session (same tab)');
  await shot(page, 'laptop-7-overview-after');

  // Unmapped customers, jobs, rules.
  await page.click('#nav a[data-view="unmapped"]');
  await page.locator('#unmapped tbody tr').first().waitFor();
  check((await text(page, '#unmapped')).includes('cust-not-in-table'),
    'unmapped: the customer holding a job');
  await shot(page, 'laptop-8-unmapped');
  await page.click('#nav a[data-view="jobs"]');
  await page.locator('#jobs tbody tr').first().waitFor();
  await shot(page, 'laptop-9-jobs');
  await page.click('#nav a[data-view="rules"]');
  await page.locator('ol.rules > li').first().waitFor();
  check(await page.locator('ol.rules > li').count() === 3, 'rules: the 3 running rules');
  await shot(page, 'laptop-10-rules');

  await page.click('#logout');
  await page.locator('#login').waitFor({ state: 'visible' });
  check(await page.evaluate(() => sessionStorage.length === 0), 'log out forgets the token');
  check(errors.length === 0, 'laptop: no script error, no CSP violation' +
    (errors.length ? ': ' + errors.join(' | ') : ''));
  await ctx.close();
}

// A phone, in dark mode (the laptop pass is light).
async function phone(browser, info, ids) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 },
    isMobile: true, hasTouch: true, deviceScaleFactor: 2, colorScheme: 'dark' });
  const page = await ctx.newPage();
  const errors = [];
  watchConsole(page, errors);
  page.setDefaultTimeout(15000);
  await login(page, info, 'phone');
  await page.locator('#targets tr[data-target="psa"]').waitFor();
  await noSideways(page, 'phone overview');
  await shot(page, 'phone-2-overview');
  await page.goto(info.admin + '/#/events');
  await page.locator('#events tbody tr').first().waitFor();
  await noSideways(page, 'phone events');
  await shot(page, 'phone-3-events');
  await page.goto(info.admin + '/#/event/' + ids.mac);
  await page.locator('article.job').first().waitFor();
  await noSideways(page, 'phone event');
  await shot(page, 'phone-4-event');
  await page.goto(info.admin + '/#/event/' + ids.held);
  await page.locator('article.job[data-state="held"]').waitFor();
  await page.locator('article.job button', { hasText: 'Release' }).click();
  await page.locator('#confirm[open]').waitFor();
  await shot(page, 'phone-5-confirm');
  await page.click('#confirm-cancel');
  check(await page.locator('article.job[data-state="held"]').count() === 1,
    'cancel leaves the held job as it was');
  await page.goto(info.admin + '/#/unmapped');
  await page.locator('#unmapped tbody tr').first().waitFor();
  await noSideways(page, 'phone unmapped');
  await shot(page, 'phone-6-unmapped');
  check(errors.length === 0, 'phone: no script error, no CSP violation' +
    (errors.length ? ': ' + errors.join(' | ') : ''));
  await ctx.close();
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const stack = new Stack();
  let browser = null;
  let failed = null;
  const timer = setTimeout(() => {
    console.error('e2e: FAILED: the test took longer than ' + LIMIT_MS / 1000 + ' s');
    stack.stop().finally(() => process.exit(1));
    if (browser) browser.close().catch(() => {});
  }, LIMIT_MS);
  try {
    const info = await stack.start();
    console.log('# psabridge admin at ' + info.admin + ', pid ' + info.daemon_pid);
    const ids = await postScenario(info);
    browser = await chromium.launch({ executablePath: env('E2E_CHROMIUM'),
      headless: true, args: ARGS, timeout: 60000 });
    await laptop(browser, info, stack, ids);
    await phone(browser, info, ids);
  } catch (e) {
    failed = e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stack.stop();
    clearTimeout(timer);
  }
  if (failed) {
    console.error('e2e: FAILED after ' + checks + ' checks: ' + (failed.stack || failed));
    console.error('e2e: screenshots and the daemon log in ' + SHOTS);
    process.exit(1);
  }
  console.log('e2e.webui: ' + checks + ' checks passed; screenshots in ' + SHOTS);
}

main();
