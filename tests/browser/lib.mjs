// Shared by check.mjs (the public pages) and console.mjs (the console, signed in):
// Debian's Chromium, axe-core, and the `ok` / `FAIL` report lines both print.

import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const AXE_PATH = require.resolve('axe-core/axe.min.js');

export const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium';
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

// Headless Chromium with a throw-away profile; `close()` removes both.
export async function launch() {
  if (!existsSync(CHROMIUM)) {
    console.error(`browser: ${CHROMIUM} not found (apt-get install chromium, or run tests/browser/setup.sh)`);
    process.exit(2);
  }
  const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    env: { ...process.env, HOME: profile },
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export const counts = { passed: 0, failed: 0 };

export function report(path, check, problems, note = '') {
  if (problems.length === 0) {
    counts.passed += 1;
    console.log(`ok   ${path} ${check}${note ? ` (${note})` : ''}`);
    return;
  }
  counts.failed += 1;
  const ids = [...new Set(problems.map((p) => /^axe (\S+)/.exec(p)?.[1]).filter(Boolean))];
  console.log(`FAIL ${path} ${check}: ${ids.length ? ids.join(', ') : `${problems.length} problem${problems.length === 1 ? '' : 's'}`}`);
  for (const p of problems) console.log(`     - ${p.replace(/\n/g, '\n       ')}`);
}

export function describeViolations(violations) {
  return violations.map((v) => {
    const nodes = v.nodes
      .map((n) => {
        const summary = (n.failureSummary || '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
        return `  at ${n.target.join(' ')}\n    ${n.html.slice(0, 200)}\n    ${summary}`;
      })
      .join('\n');
    return `axe ${v.id} (${v.impact}): ${v.help}\n  ${v.helpUrl}\n${nodes}`;
  });
}

export async function runAxe(page) {
  // Collapsed groups are part of the page too.
  await page.evaluate(() => document.querySelectorAll('details:not([open])').forEach((d) => { d.open = true; }));
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    await page.addScriptTag({ path: AXE_PATH });
  }
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String), html: n.html, failureSummary: n.failureSummary })),
    }));
  }, AXE_TAGS);
}


// Prints the totals and ends the process: 0 when nothing failed.
export function finish(name) {
  console.log(`${name}: ${counts.passed} passed, ${counts.failed} failed`);
  process.exit(counts.failed === 0 ? 0 : 1);
}
