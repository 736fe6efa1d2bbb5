// tests/e2e/lib/browser.js - Debian's chromium, headless, driven by puppeteer-core for the e2e tests (tests/e2e/lib/browser.py).
// Usage: node browser.js TESTS_DIR CHROMIUM. Reads one JSON command per line on stdin and answers each with one JSON line on
// stdout: {"ok": true, "value": ...} or {"ok": false, "error": "..."}. puppeteer-core downloads no browser: it runs CHROMIUM.
// Commands: goto {url}, type {selector, text} (replaces the field's value), select {selector, value}, click {selector},
// upload {selector, paths} (files into an <input type=file>),
// wait {expr, timeout_ms} (until the page expression is truthy: its value), eval {expr}, screenshot {path, clip} (the whole
// page, or the clip rectangle {x, y, width, height}),
// problems {} (console errors, page errors and CSP violations seen so far), close {}.
'use strict';
const path = require('path');
const readline = require('readline');

const [testsDir, chromium] = process.argv.slice(2);
const puppeteer = require(path.join(testsDir, 'node_modules', 'puppeteer-core'));

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // root needs --no-sandbox; /dev/shm may be small in containers; a loaded machine is slow to start a browser
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
      '--window-size=1400,1000'],
    defaultViewport: { width: 1400, height: 1000 },
    timeout: 300000,
    protocolTimeout: 300000,
  });
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => problems.push('request failed: ' + r.url() + ' ' + (r.failure() ? r.failure().errorText : '')));

  const run = {
    goto: async (c) => { const r = await page.goto(c.url, { waitUntil: 'load', timeout: 300000 }); return r ? r.status() : null; },
    type: async (c) => {
      await page.waitForSelector(c.selector, { visible: true, timeout: 120000 });
      await page.focus(c.selector); // first: what leaving the previous field does (its change event) is done before typing
      await page.$eval(c.selector, (e) => { e.value = ''; });
      await page.type(c.selector, c.text);
      return null;
    },
    upload: async (c) => { // sets the files of an <input type=file> (its change event fires), as choosing them in the dialog does
      const input = await page.waitForSelector(c.selector, { timeout: 120000 });
      await input.uploadFile(...c.paths);
      return null;
    },
    select: async (c) => {
      await page.waitForSelector(c.selector, { visible: true, timeout: 120000 });
      return page.select(c.selector, c.value);
    },
    click: async (c) => {
      await page.waitForSelector(c.selector, { visible: true, timeout: 120000 });
      // the element's own click (what a mouse click on it does: a submit button submits its form, after validation), not a
      // mouse event at coordinates: the live page moves as its charts and tables update, and a click could land elsewhere
      await page.$eval(c.selector, (e) => e.click());
      return null;
    },
    wait: async (c) => {
      const h = await page.waitForFunction(c.expr, { timeout: c.timeout_ms || 120000, polling: 100 });
      return h.jsonValue();
    },
    eval: async (c) => page.evaluate(c.expr),
    screenshot: async (c) => { await page.screenshot(c.clip ? { path: c.path, clip: c.clip } : { path: c.path, fullPage: true }); return c.path; },
    problems: async () => problems.slice(),
    close: async () => { await browser.close(); return null; },
  };

  const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  out({ ok: true, value: await browser.version() });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    let c;
    try {
      c = JSON.parse(line);
      out({ ok: true, value: await run[c.cmd](c) });
    } catch (e) {
      out({ ok: false, error: String(e && e.stack ? e.stack : e) });
    }
    if (c && c.cmd === 'close') break;
  }
  await browser.close().catch(() => {});
})().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: 'browser: ' + String(e && e.stack ? e.stack : e) }) + '\n');
  process.exit(1);
});
