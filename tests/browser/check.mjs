// Browser checks for Herald's public pages, run by tests/browser.rs.
//
//   node tests/browser/check.mjs BASE_URL PATH[=STATUS]...
//
// For every path, in headless Chromium (Debian's /usr/bin/chromium, never a downloaded
// browser):
//   console   no console errors and no uncaught page errors while loading
//   axe-light axe-core finds no violations (WCAG 2.0/2.1 A and AA, best practices)
//   axe-dark  the same with `prefers-color-scheme: dark` (colour contrast of the dark theme)
//   anchors   every in-page link (href="#...") has a target, and no id is used twice
//   keyboard  the first Tab focuses the skip link, visibly and with a focus ring; Enter on
//             it moves on into <main>; every later tab stop is visible and has a focus ring
//
// The document itself must answer 200, or STATUS when the path is written `PATH=STATUS`
// (an error page's own 404 is then not counted as a console error).
// Prints each finding, then `browser: N passed, M failed`; exits 1 on any failure.

import { describeViolations, finish, launch, report, runAxe } from './lib.mjs';

const MAX_TAB_STOPS = 300;

const [base, ...specs] = process.argv.slice(2);
if (!base || specs.length === 0) {
  console.error('usage: node check.mjs BASE_URL PATH[=STATUS]...');
  process.exit(2);
}

// What the focused element looks like: where it is, and whether it draws a focus ring.
function focusedState() {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const cs = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 && !/rgba\(.*,\s*0\)$/.test(cs.outlineColor);
  const shadow = cs.boxShadow && cs.boxShadow !== 'none';
  const describe = (e) => {
    let s = e.tagName.toLowerCase();
    if (e.id) s += `#${e.id}`;
    if (e.classList.length) s += '.' + [...e.classList].join('.');
    const text = (e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    return text ? `${s} "${text}"` : s;
  };
  return {
    desc: describe(el),
    isSkipLink: el.matches('a[href="#main"], .skip-link'),
    inMain: !!el.closest('main'),
    ring: outline || shadow,
    ringDesc: `outline: ${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}; box-shadow: ${cs.boxShadow}`,
    visible: rect.width > 0 && rect.height > 0 && cs.visibility !== 'hidden' && parseFloat(cs.opacity) > 0,
    inViewport: rect.bottom > 0 && rect.right > 0 && rect.top < window.innerHeight && rect.left < window.innerWidth,
    rect: `${Math.round(rect.left)},${Math.round(rect.top)} ${Math.round(rect.width)}x${Math.round(rect.height)}`,
  };
}

async function keyboardProblems(page, url) {
  const problems = [];
  await page.keyboard.press('Tab');
  const first = await page.evaluate(focusedState);
  if (!first) return { problems: ['the first Tab focused nothing'], stops: 0 };
  if (!first.isSkipLink) problems.push(`the first Tab focused ${first.desc}, not the skip link`);
  else {
    if (!first.visible || !first.inViewport) problems.push(`the skip link is not on screen when focused (box ${first.rect})`);
    if (!first.ring) problems.push(`the skip link shows no focus ring when focused (${first.ringDesc})`);
    await page.keyboard.press('Enter');
    const hash = await page.evaluate(() => location.hash);
    if (hash !== '#main') problems.push(`Enter on the skip link went to "${hash}", not #main`);
    await page.keyboard.press('Tab');
    const afterSkip = await page.evaluate(focusedState);
    const mainHasStops = await page.evaluate(() =>
      document.querySelectorAll('main a[href], main summary, main [tabindex]:not([tabindex="-1"]), main button, main input').length > 0);
    if (mainHasStops && (!afterSkip || !afterSkip.inMain)) {
      problems.push(`Tab after the skip link focused ${afterSkip ? afterSkip.desc : 'nothing'}, not the first stop in <main>`);
    }
  }

  // Every tab stop from the top of a fresh load: on screen and with a focus ring.
  await page.goto(url, { waitUntil: 'load' });
  const seen = new Set();
  let stops = 0;
  for (let i = 0; i < MAX_TAB_STOPS; i += 1) {
    await page.keyboard.press('Tab');
    const s = await page.evaluate(focusedState);
    if (!s) break;
    const key = `${s.desc}@${s.rect}`;
    if (seen.has(key)) break; // wrapped around to the start
    seen.add(key);
    stops += 1;
    if (!s.visible || !s.inViewport) problems.push(`tab stop ${i + 1}, ${s.desc}: not on screen when focused (box ${s.rect})`);
    if (!s.ring) problems.push(`tab stop ${i + 1}, ${s.desc}: no focus ring (${s.ringDesc})`);
  }
  return { problems, stops };
}

const { browser, close } = await launch();

try {
  for (const spec of specs) {
    const m = /^(.*?)(?:=(\d{3}))?$/.exec(spec);
    const path = m[1];
    const wantStatus = m[2] ? Number(m[2]) : 200;
    const url = new URL(path, base).href;

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', reducedMotion: 'reduce' });
    const page = await context.newPage();
    const consoleProblems = [];
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const loc = msg.location();
      // The error page's own expected status shows up as "Failed to load resource".
      if (wantStatus !== 200 && loc.url === url && /Failed to load resource/.test(msg.text())) return;
      consoleProblems.push(`console error: ${msg.text()}${loc.url ? ` (${loc.url}:${loc.lineNumber + 1})` : ''}`);
    });
    page.on('pageerror', (err) => consoleProblems.push(`uncaught exception: ${err.stack || err.message}`));
    page.on('requestfailed', (req) => consoleProblems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
    page.on('response', (res) => {
      if (res.url() !== url && res.status() >= 400) consoleProblems.push(`subresource ${res.url()} answered ${res.status()}`);
    });

    let response;
    try {
      response = await page.goto(url, { waitUntil: 'load' });
      await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
    } catch (e) {
      report(path, 'load', [`could not load ${url}: ${e.message}`]);
      await context.close();
      continue;
    }
    const status = response ? response.status() : 0;
    if (status !== wantStatus) consoleProblems.unshift(`document answered ${status}, expected ${wantStatus}`);
    report(path, 'console', consoleProblems);

    const elements = await page.evaluate(() => document.querySelectorAll('body *').length);
    report(path, 'axe-light', describeViolations(await runAxe(page)), `${elements} elements`);
    await page.emulateMedia({ colorScheme: 'dark' });
    report(path, 'axe-dark', describeViolations(await runAxe(page)));
    await page.emulateMedia({ colorScheme: 'light' });

    report(path, 'anchors', await page.evaluate(() => {
      const problems = [];
      const counts = new Map();
      document.querySelectorAll('[id]').forEach((el) => counts.set(el.id, (counts.get(el.id) || 0) + 1));
      for (const [id, n] of counts) if (n > 1) problems.push(`id "${id}" is used ${n} times`);
      document.querySelectorAll('a[href^="#"]').forEach((a) => {
        const raw = a.getAttribute('href').slice(1);
        if (raw === '' || raw === 'top') return;
        let id = raw;
        try { id = decodeURIComponent(raw); } catch (e) { /* keep raw */ }
        if (!document.getElementById(id)) {
          problems.push(`link ${a.outerHTML.slice(0, 120)} points at #${id}, which is not on the page`);
        }
      });
      return problems;
    }));

    await page.goto(url, { waitUntil: 'load' });
    const keyboard = await keyboardProblems(page, url);
    report(path, 'keyboard', keyboard.problems, `${keyboard.stops} tab stops`);
    await context.close();
  }
} finally {
  await close();
}

finish('browser');
