// The console in a real browser, run by tests/browser.rs:
//
//   node tests/browser/console.mjs BASE_URL EMAIL PASSWORD
//
// Signs in as an admin and runs one incident from start to postmortem the way an
// incident commander would: open it with Webhooks in major outage (API is held by
// another open incident of the test site, so resolving this one leaves it), post updates
// through Identified and Monitoring, resolve it, write the postmortem with the live
// preview, publish it. After each step the public pages must show it. Every console
// page visited is checked with axe-core (light and dark) and must log no errors.
// Prints `ok` / `FAIL` lines, then `console: N passed, M failed`; exits 1 on failure.

import { describeViolations, finish, launch, report, runAxe } from './lib.mjs';

const [base, email, password] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error('usage: node console.mjs BASE_URL EMAIL PASSWORD');
  process.exit(2);
}

const { browser, close } = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', reducedMotion: 'reduce' });
const page = await context.newPage();
const errors = [];
page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console error: ${msg.text()}`); });
page.on('pageerror', (err) => errors.push(`uncaught exception: ${err.message}`));
// Confirm dialogs ("Replace the text with the template?") are answered yes.
page.on('dialog', (dialog) => dialog.accept());

const path = () => new URL(page.url()).pathname;

// axe-core in both colour schemes, and no console errors so far.
async function checkPage(label) {
  report(label, 'axe-light', describeViolations(await runAxe(page)));
  await page.emulateMedia({ colorScheme: 'dark' });
  report(label, 'axe-dark', describeViolations(await runAxe(page)));
  await page.emulateMedia({ colorScheme: 'light' });
  report(label, 'console', errors.splice(0));
}

// What the public sees at `where` (a fresh request, as a visitor's browser makes).
async function publicText(where) {
  const res = await context.request.get(new URL(where, base).href, { headers: { 'Cache-Control': 'no-cache' } });
  if (res.status() !== 200) throw new Error(`${where} answered ${res.status()}`);
  return res.text();
}

async function publicShows(where, needles) {
  const html = await publicText(where);
  const missing = needles.filter((n) => !html.includes(n));
  if (missing.length) throw new Error(`${where} does not show ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
}

// Runs one step; a failed step ends the run (the next ones build on it).
async function step(name, body) {
  try {
    await body();
    report(name, 'step', []);
  } catch (e) {
    report(name, 'step', [e.stack || e.message]);
    await close();
    finish('console');
  }
}

async function postUpdate(button, message) {
  await page.getByLabel('Message', { exact: true }).fill(message);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: button, exact: true }).click()]);
  if (!/^\/admin\/incidents\/[a-z0-9]+$/.test(path())) throw new Error(`after "${button}" the browser is at ${page.url()}`);
}

let incidentId = '';
const name = 'Checkout payments are failing';

try {
  await step('sign in', async () => {
    await page.goto(new URL('/admin', base).href);
    if (path() !== '/admin/sign-in') throw new Error(`/admin led to ${page.url()}, not the sign-in form`);
    await checkPage('/admin/sign-in');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
    if (path() !== '/admin') throw new Error(`signing in led to ${page.url()}`);
    await checkPage('/admin');
  });

  await step('open an incident', async () => {
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Open an incident' }).click()]);
    await checkPage('/admin/incidents/new');
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Status').selectOption('investigating');
    await page.getByLabel('Message', { exact: true }).fill('We are **investigating** failed card payments at checkout.');
    // The preview follows the typing (progressive JavaScript).
    await page.locator('#incident-body-preview strong', { hasText: 'investigating' }).waitFor({ timeout: 5000 });
    await page.getByLabel('Webhooks', { exact: true }).selectOption('major_outage');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Open incident' }).click()]);
    const m = /^\/admin\/incidents\/([a-z0-9]+)$/.exec(path());
    if (!m) throw new Error(`opening the incident led to ${page.url()}`);
    incidentId = m[1];
    await checkPage('/admin/incidents/{id}');
    await publicShows(`/incidents/${incidentId}`, [name, 'Investigating', '<strong>investigating</strong>']);
    await publicShows('/', [name, 'Major Outage']);
  });

  await step('post updates through to resolved', async () => {
    await postUpdate('Identified', 'A faulty deploy of the payment gateway client.');
    await publicShows(`/incidents/${incidentId}`, ['Identified', 'A faulty deploy of the payment gateway client.']);
    await postUpdate('Monitoring', 'The deploy is rolled back; payments succeed again.');
    await publicShows(`/incidents/${incidentId}`, ['Monitoring', 'The deploy is rolled back']);
    await postUpdate('Resolve', 'Payments have worked normally for an hour.');
    await publicShows(`/incidents/${incidentId}`, ['Resolved', 'Payments have worked normally for an hour.']);
    const components = JSON.parse(await publicText('/api/v2/components.json')).components;
    const webhooks = components.find((c) => c.name === 'Webhooks');
    if (!webhooks || webhooks.status !== 'operational') throw new Error(`after resolving, Webhooks is ${webhooks && webhooks.status}`);
    await checkPage('/admin/incidents/{id} (resolved)');
  });

  await step('write and publish the postmortem', async () => {
    await page.goto(new URL(`/admin/incidents/${incidentId}/postmortem`, base).href);
    await checkPage('/admin/incidents/{id}/postmortem');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Start from template' }).click()]);
    const template = await page.getByLabel('Postmortem (markdown)').inputValue();
    if (!template.includes('Identified')) throw new Error(`the template holds no timeline:\n${template.slice(0, 400)}`);
    const text = `${template}\n\n## Root cause\n\nA **connection pool limit** in the new client refused payments.\n`;
    await page.getByLabel('Postmortem (markdown)').fill(text);
    await page.locator('#postmortem-preview strong', { hasText: 'connection pool limit' }).waitFor({ timeout: 5000 });
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Publish', exact: true }).click()]);
    await checkPage('/admin/incidents/{id}/postmortem (published)');
    await publicShows(`/incidents/${incidentId}`, ['Postmortem', '<strong>connection pool limit</strong>']);
  });

  await step('every console screen', async () => {
    for (const where of [
      '/admin/incidents', '/admin/incidents/backfill', '/admin/maintenance/new', '/admin/components',
      '/admin/subscribers', '/admin/api-keys', '/admin/users', '/admin/settings', '/admin/audit',
    ]) {
      const res = await page.goto(new URL(where, base).href);
      if (res.status() !== 200) throw new Error(`${where} answered ${res.status()}`);
      await checkPage(where);
    }
    const audit = await page.content(); // the last one visited
    if (!audit.includes(name)) throw new Error('the audit log does not name the incident');
  });
} finally {
  await close();
}

finish('console');
