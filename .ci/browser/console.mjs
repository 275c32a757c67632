// The staff console in headless Chromium (Debian's package, driven by playwright-core): signing
// in, the dashboard's numbers, roles, CSRF, a caseworker closing a request, keyboard access,
// axe-core on every page, and a screenshot of each page. tests/console_browser.rs starts the
// gateway, has residents text it, and passes what it expects in CONSOLE_TEST (JSON).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const cfg = JSON.parse(process.env.CONSOLE_TEST);
fs.mkdirSync(cfg.shots, { recursive: true });

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update'],
});

async function open(viewport = { width: 1280, height: 900 }) {
  // bypassCSP lets axe-core be injected into pages whose policy allows only the console's files.
  const context = await browser.newContext({ bypassCSP: true, viewport, baseURL: cfg.base });
  return { context, page: await context.newPage() };
}

async function audit(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, {
    runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
  }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe-core on ${name}: no serious or critical violations` +
    (bad.length ? ` (${bad.map((v) => `${v.id} at ${v.nodes.map((n) => n.target).join(' ')}`).join('; ')})` : ''));
  await page.screenshot({ path: path.join(cfg.shots, `${name}.png`), fullPage: true });
}

async function signIn(page, who) {
  await page.goto('/console/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
}

// The flow editor, in a context that keeps the console's Content-Security-Policy (the editor's
// script must work under it): an editor breaks a flow, sees the error marked at its line, fixes
// it, rewords a question and publishes. tests/console_browser.rs then texts the keyword.
async function flowEditor() {
  const e = cfg.editing;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: cfg.base });
  const page = await context.newPage();
  const blocked = [];
  page.on('console', (m) => { if (m.type() === 'error') blocked.push(m.text()); });
  await signIn(page, cfg.editor);
  await page.goto(`/console/flows/${e.flow}/edit`);
  await page.locator('.cm-content').waitFor();
  check(await page.locator('textarea#source').isHidden(), 'the editor page turns the textarea into a code editor');
  check(await page.locator('.cm-content .cm-line span').count() > 10, 'the YAML is highlighted');
  await page.locator('.cm-content .cm-line').nth(e.line - 1).click();
  await page.keyboard.press('End');
  for (let i = 0; i < e.left; i++) await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Backspace');
  await page.locator('.cm-lintRange-error').first().waitFor({ timeout: 15000 });
  const marked = await page.locator('.cm-content > .cm-line').nth(e.line - 1)
    .locator('.cm-lintRange-error').count() === 1;
  check(marked, `typing a broken reference marks the error at line ${e.line}`);
  check(await page.locator('.cm-lint-marker-error').count() === 1, 'and puts one error marker in the gutter');
  const listed = page.locator(`[data-problem-list] li[data-line="${e.line}"]`);
  const item = (await listed.count()) === 1 ? await listed.innerText() : '';
  check(item.includes(e.missing) && item.includes('Fix:'),
    `the problem list names line ${e.line}, the missing step and a fix (${item})`);
  await page.screenshot({ path: path.join(cfg.shots, 'flow-editor-error.png'), fullPage: true });
  await page.keyboard.type(e.fix);
  // (Waits through locators: a page function would need eval, which the policy refuses.)
  await page.locator('.cm-lintRange-error').waitFor({ state: 'detached', timeout: 15000 });
  await page.locator('.cm-content .cm-line').nth(e.textLine - 1).click();
  await page.keyboard.press('End');
  await page.keyboard.type(e.append);
  await page.locator('[data-problem-summary]', { hasText: /^(No problems|0 errors)/ })
    .waitFor({ timeout: 15000 });
  check(true, 'the fixed draft checks without errors as it is typed');
  await page.getByLabel(/^Why/).fill(e.note);
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.waitForLoadState();
  const notice = await page.locator('.notice').innerText().catch(() => '');
  check(new URL(page.url()).pathname === `/console/flows/${e.flow}/versions` && notice.includes('Published version'),
    `publishing leads to the history, which says it was published (${page.url()})`);
  const newest = await page.locator('tbody tr').first().innerText();
  check(newest.includes('console') && newest.includes(cfg.editor.email) && newest.includes(e.note),
    `the history's newest row says console, who and why (${newest})`);
  check(blocked.length === 0, `no script error or blocked resource under the console's policy (${blocked.join(' | ')})`);
  await context.close();
}

// The flows pages as an editor sees them, each through axe-core, with screenshots.
async function flowPages() {
  const { context, page } = await open();
  await signIn(page, cfg.editor);
  for (const [name, url] of [
    ['flows', '/console/flows'],
    ['flow-versions', `/console/flows/${cfg.editing.flow}/versions`],
    ['flow-source', `/console/flows/${cfg.editing.flow}/versions/${cfg.editing.version}`],
    ['flow-diff', `/console/flows/${cfg.editing.flow}/diff`],
    ['flow-editor', `/console/flows/${cfg.editing.flow}/edit`],
  ]) {
    const resp = await page.goto(url);
    check(resp.status() === 200, `${url} answers 200`);
    if (name === 'flow-editor') await page.locator('.cm-content').waitFor();
    if (name === 'flow-diff') {
      const diff = await page.locator('table.diff').innerText();
      check(diff.includes(cfg.editing.append.trim()), 'the diff shows the reworded question');
    }
    await audit(page, name);
  }
  await context.close();
}

// Invitations: an admin composes a survey invitation, previews it and schedules it; axe-core
// and a screenshot on each of its pages, and the compose form on a phone-sized screen.
async function invitationSteps() {
  const { context, page } = await open();
  await signIn(page, cfg.admin);
  await page.goto('/console/invitations');
  await page.getByRole('link', { name: 'New invitation' }).click();
  await page.waitForLoadState();
  await audit(page, 'invitation-new');
  await page.getByLabel(/A survey invitation/).check();
  await page.getByLabel('Flow', { exact: true }).selectOption(cfg.flow);
  await page.getByLabel('At a time').check();
  await page.getByLabel(/Date and time/).fill(cfg.invite.at);
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.waitForLoadState();
  const recipients = (await page.locator('#preview-recipients').textContent()).trim();
  check(recipients === String(cfg.invite.recipients),
    `the preview counts ${recipients} recipients, the database has ${cfg.invite.recipients} consenting`);
  const queued = await (await context.request.get('/console/invitations')).text();
  check(!queued.includes('data-broadcast='), 'the preview queued nothing');
  await audit(page, 'invitation-preview');
  await page.locator('#confirm').click();
  await page.waitForLoadState();
  const state = (await page.locator('#broadcast-state').textContent()).trim();
  check(state === 'scheduled', `the invitation is scheduled (page says ${state})`);
  await audit(page, 'invitation-progress');
  await page.goto('/console/invitations');
  check(await page.locator('tr[data-broadcast]').count() === 1, 'the list shows the invitation');
  await audit(page, 'invitations');
  await context.close();

  const phone = await open({ width: 375, height: 740 });
  await signIn(phone.page, cfg.admin);
  await phone.page.goto('/console/invitations/new');
  await phone.page.getByLabel(/English text/).fill('Pool opens Saturday at 10am.');
  await phone.page.getByRole('button', { name: 'Preview' }).click();
  await phone.page.waitForLoadState();
  await audit(phone.page, 'invitation-preview-phone');
  await phone.context.close();
}

try {
  // A logged-out browser is sent to sign in; the first Tab reaches the skip link.
  {
    const { context, page } = await open();
    await page.goto('/console/requests');
    check(new URL(page.url()).pathname === '/console/login', 'a logged-out browser is redirected to the sign-in page');
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.classList.contains('skip')),
      'the first Tab reaches "Skip to content"');
    await audit(page, 'login');
    await context.close();
  }

  // The admin: dashboard numbers equal the database's, every page passes axe.
  {
    const { context, page } = await open();
    await signIn(page, cfg.admin);
    check(new URL(page.url()).pathname === '/console', 'the admin signs in and lands on the dashboard');
    const row = page.locator(`tr[data-flow="${cfg.flow}"]`);
    const started = (await row.locator('[data-count="started"]').textContent()).trim();
    const completed = (await row.locator('[data-count="completed"]').textContent()).trim();
    check(started === String(cfg.expected.started), `dashboard shows ${started} started, the database holds ${cfg.expected.started}`);
    check(completed === String(cfg.expected.completed), `dashboard shows ${completed} completed, the database holds ${cfg.expected.completed}`);
    await audit(page, 'dashboard');
    for (const [name, url] of [
      ['flow-results', `/console/flows/${cfg.flow}`],
      ['responses', `/console/flows/${cfg.flow}/responses`],
      ['requests', '/console/requests'],
      ['request', `/console/requests/${cfg.code}`],
      ['staff', '/console/staff'],
      ['audit-log', '/console/audit'],
      ['password', '/console/password'],
    ]) {
      const resp = await page.goto(url);
      check(resp.status() === 200, `${url} answers 200`);
      await audit(page, name);
    }
    // A form posted without its CSRF token is refused.
    const forged = await context.request.post('/console/staff', {
      form: { email: 'mallory@evil.example', role: 'admin' },
    });
    check(forged.status() === 403, `a form posted without its CSRF token is refused (${forged.status()})`);
    const staff = await (await page.goto('/console/staff')).text();
    check(!staff.includes('mallory@evil.example'), 'and no account was added');
    await context.close();
  }

  // The analyst sees pseudonyms, never phone numbers, and no request queue.
  {
    const { context, page } = await open();
    await signIn(page, cfg.analyst);
    await page.goto(`/console/flows/${cfg.flow}/responses`);
    const text = await page.locator('main').innerText();
    check(cfg.phones.every((p) => !text.includes(p)), 'an analyst sees no phone number in the responses');
    check(text.includes('r_'), 'an analyst sees residents by pseudonym');
    const queue = await page.goto('/console/requests');
    check(queue.status() === 403, 'an analyst cannot open the request queue');
    // The simulator plays a conversation with the current version.
    await page.goto('/console/simulator');
    const option = page.locator('#sim-flow option', { hasText: `${cfg.flow} (current` });
    await page.getByLabel('Flow and version').selectOption(await option.getAttribute('value'));
    await page.getByRole('button', { name: 'Start a new conversation' }).click();
    await page.waitForLoadState();
    await page.getByLabel('Text as the resident').fill('weekly');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.waitForLoadState();
    const chat = await page.locator('#chat').innerText();
    check(chat.includes('From 1 to 5') && chat.includes('GSM-7'),
      'the simulator answers "weekly" with the next question and its segments');
    await audit(page, 'simulator');
    await context.close();
  }

  // The caseworker closes the request on a phone-sized screen.
  {
    const { context, page } = await open({ width: 375, height: 740 });
    await signIn(page, cfg.worker);
    await page.goto(`/console/requests/${cfg.code}`);
    await page.getByLabel('New status').selectOption('closed');
    await page.getByLabel(/Note for the resident/).fill(cfg.note);
    await page.getByRole('button', { name: 'Change status' }).click();
    await page.waitForLoadState();
    const status = (await page.locator('#request-status').textContent()).trim();
    check(status === 'closed', `the caseworker closed the request (page says ${status})`);
    await audit(page, 'request-closed-phone');
    await context.close();
  }

  await flowEditor();
  await flowPages();
  await invitationSteps();
} catch (e) {
  check(false, `the browser run stopped: ${e.stack || e}`);
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
