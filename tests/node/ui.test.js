#!/usr/bin/env node
// The dashboard in a real browser: Debian's Chromium, headless, driven with
// playwright-core, against a logweave server this script starts and fills
// over `_bulk` with events whose counts per level it knows. Everything is
// judged from the rendered page (DOM text and attributes), never from the
// API responses the page read.
//
// Usage: LOGWEAVE_BIN=target/debug/logweave node tests/node/ui.test.js
//   LOGWEAVE_BIN      the logweave binary (required)
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   UI_SCREENSHOTS    where the PNGs go (default target/ui-screenshots)
// Exits 0 when every check passed, 1 otherwise.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const ROOT = path.resolve(__dirname, "..", "..");
const BIN = process.env.LOGWEAVE_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = path.resolve(process.env.UI_SCREENSHOTS || path.join(ROOT, "target", "ui-screenshots"));
const DEADLINE_MS = 110_000;

// What the test sends: counts per level (ERROR under 50, so that the
// filtered table holds all of them), spread over the last 50 minutes.
const COUNTS = { FATAL: 3, ERROR: 37, WARN: 61, INFO: 412, DEBUG: 90 };
const TOTAL = Object.values(COUNTS).reduce((a, b) => a + b, 0);
const SERVICES = ["checkout", "inventory", "auth", "frontend"];

let step = "start";
function log(msg) {
  process.stdout.write(`ui.test: ${msg}\n`);
}

// ---------------------------------------------------------------- server

function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logweave-ui-test-"));
  const child = spawn(
    BIN,
    ["server", "--data-dir", path.join(dir, "data"), "--http-addr", "127.0.0.1:0",
      "--forward-addr", "127.0.0.1:0", "--syslog-addr", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOGWEAVE_LOG: "warn" } },
  );
  let out = "";
  const base = new Promise((resolve, reject) => {
    const onData = (b) => {
      out += b.toString();
      const m = out.match(/API on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
    setTimeout(() => reject(new Error(`server did not say where it listens within 30 s:\n${out}`)), 30_000);
  });
  return { child, dir, base, log: () => out };
}

function events(now) {
  const levels = [];
  for (const [l, n] of Object.entries(COUNTS)) for (let i = 0; i < n; i++) levels.push(l);
  // a fixed shuffle (LCG), so levels interleave in time
  let seed = 42;
  for (let i = levels.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [levels[i], levels[j]] = [levels[j], levels[i]];
  }
  const span = 49 * 60e3;
  return levels.map((level, i) => ({
    timestamp: new Date(now - 60e3 - Math.floor((span * i) / levels.length)).toISOString(),
    level,
    service: SERVICES[i % SERVICES.length],
    host: `node-${i % 3}`,
    message: `${level === "ERROR" ? "payment failed: connection reset by peer" : "request handled"} #${i} (ünïcödé, 日本語)`,
    seq: i,
  }));
}

async function fill(base, evs) {
  const lines = [];
  for (const e of evs) lines.push(JSON.stringify({ index: { _index: "ui-test-%{+YYYY.MM.dd}" } }), JSON.stringify(e));
  const res = await fetch(`${base}/_bulk?refresh=true`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: lines.join("\n") + "\n",
  });
  const body = await res.json();
  assert.equal(res.status, 200, `_bulk answered ${res.status}`);
  assert.equal(body.errors, false, `_bulk had item errors: ${JSON.stringify(body).slice(0, 500)}`);
  assert.equal(body.items.length, evs.length);
}

// ---------------------------------------------------------------- page

async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.state && !document.body.classList.contains("loading"), null, { timeout: 20_000 });
}

async function shownTotal(page) {
  const t = await page.locator("#total").getAttribute("data-total");
  const text = (await page.locator("#total").textContent()).replace(/[^0-9]/g, "");
  assert.equal(text, t, "the total's text and its data-total agree");
  return Number(t);
}

async function slices(page) {
  return page.$$eval("#donut .slice", (els) =>
    els.map((e) => ({ level: e.dataset.level, count: Number(e.dataset.count), title: e.querySelector("title")?.textContent ?? "" })),
  );
}

async function tableLevels(page) {
  return page.$$eval("#results tr.row td.level", (tds) => tds.map((td) => td.textContent.trim()));
}

async function view(browser, base, colorScheme) {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of (400|404)/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/_search")) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request outside the server: ${r.url()}`);
  });
  // cumulative layout shift, as Chromium measures it
  await page.addInitScript(() => {
    window.__cls = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
    }).observe({ type: "layout-shift", buffered: true });
  });

  step = `${colorScheme}: first load`;
  await page.goto(`${base}/ui#range=1h`);
  await ready(page);
  assert.equal(new URL(page.url()).pathname, "/ui/", "/ui redirects to /ui/");
  assert.equal(await shownTotal(page), TOTAL, "the total shown equals the events sent");

  step = `${colorScheme}: donut`;
  const got = await slices(page);
  assert.deepEqual(Object.fromEntries(got.map((s) => [s.level, s.count])), COUNTS, "one donut slice per level with its count");
  for (const s of got) assert.match(s.title, new RegExp(`^${s.level}: ${s.count}\\b`), `the slice's <title> names its count: ${s.title}`);
  assert.equal(Number(await page.locator("#donut").getAttribute("data-total")), TOTAL);

  step = `${colorScheme}: histogram`;
  assert.equal(Number(await page.locator("#histogram").getAttribute("data-total")), TOTAL, "the histogram's bars sum to the total");
  const legend = await page.$$eval("#histogram-legend li", (lis) => Object.fromEntries(lis.map((l) => [l.dataset.level, Number(l.dataset.count)])));
  assert.deepEqual(legend, COUNTS, "the histogram's levels and counts");
  assert.ok(await page.locator("#histogram canvas").count(), "the histogram is drawn");

  step = `${colorScheme}: table`;
  const rows = await page.locator("#results tr.row").count();
  assert.equal(rows, 50, "50 rows");
  const times = await page.$$eval("#results tr.row td.time", (tds) => tds.map((td) => td.title));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] >= times[i], `newest first: ${times[i - 1]} before ${times[i]}`);
  const cls = await page.evaluate(() => window.__cls);
  assert.ok(cls < 0.1, `cumulative layout shift ${cls} is under 0.1`);
  await page.screenshot({ path: path.join(SHOTS, `overview-${colorScheme}.png`), fullPage: true });

  step = `${colorScheme}: click the ERROR slice`;
  // where the ERROR slice is drawn: a point on the ring whose topmost
  // element is that slice (found by looking, not from its attributes)
  const at = await page.$eval("#donut", (svg) => {
    const b = svg.getBoundingClientRect();
    const cx = b.x + b.width / 2, cy = b.y + b.height / 2;
    for (const rf of [0.35, 0.32, 0.38]) {
      for (let deg = 0; deg < 360; deg += 2) {
        const x = cx + rf * b.width * Math.cos((deg * Math.PI) / 180);
        const y = cy + rf * b.height * Math.sin((deg * Math.PI) / 180);
        if (document.elementFromPoint(x, y)?.dataset?.level === "ERROR") return { x, y };
      }
    }
    return null;
  });
  assert.ok(at, "the ERROR slice is visible on the ring");
  await page.mouse.click(at.x, at.y);
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes("@level:ERROR"));
  await ready(page);
  assert.equal(await page.locator("#q").inputValue(), "@level:ERROR", "the query bar has the level filter");
  assert.equal(await shownTotal(page), COUNTS.ERROR, "the total is the ERROR count");
  const levels = await tableLevels(page);
  assert.equal(levels.length, COUNTS.ERROR, "every ERROR event is in the table");
  assert.deepEqual([...new Set(levels)], ["ERROR"], "only ERROR rows");
  const after = await slices(page);
  assert.deepEqual(after.map((s) => [s.level, s.count]), [["ERROR", COUNTS.ERROR]], "the donut has the ERROR slice only");

  step = `${colorScheme}: expand a row`;
  await page.locator("#results tr.row").first().click();
  const json = JSON.parse(await page.locator("#results tr.detail:not([hidden]) pre").first().textContent());
  assert.equal(json._source.level, "ERROR");
  assert.ok(json._source.message.includes("payment failed"), "the full event is shown");
  await page.screenshot({ path: path.join(SHOTS, `error-filter-${colorScheme}.png`), fullPage: true });

  step = `${colorScheme}: bookmark`;
  const bookmark = page.url();
  const again = await context.newPage();
  await again.goto(bookmark);
  await ready(again);
  assert.equal(await again.locator("#q").inputValue(), "@level:ERROR", "the URL carries the query");
  assert.equal(await again.locator("#range").inputValue(), "1h", "the URL carries the range");
  assert.equal(await shownTotal(again), COUNTS.ERROR);
  await again.close();

  step = `${colorScheme}: / focuses the query bar`;
  await page.locator("h1, .brand").first().focus();
  await page.locator("body").click({ position: { x: 5, y: 880 } });
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "q", "/ focuses the query bar");

  step = `${colorScheme}: a bad query`;
  await page.locator("#q").fill("level:(ERROR");
  await page.keyboard.press("Enter");
  await page.locator("#error").waitFor({ state: "visible", timeout: 10_000 });
  const err = await page.locator("#error").textContent();
  assert.ok(err.includes("failed to parse query [level:(ERROR]"), `the API's reason is shown: ${err}`);
  assert.ok(err.includes("missing ')'"), `it says what is wrong: ${err}`);
  // it is under the query bar, where the user is looking
  const qBox = await page.locator("#q").boundingBox();
  const eBox = await page.locator("#error").boundingBox();
  assert.ok(eBox.y >= qBox.y + qBox.height - 1 && eBox.y - (qBox.y + qBox.height) < 40, "the error is just under the query bar");
  assert.equal(await page.locator("#q").getAttribute("aria-invalid"), "true");
  await page.screenshot({ path: path.join(SHOTS, `bad-query-${colorScheme}.png`), fullPage: false });

  step = `${colorScheme}: recovering`;
  await page.locator("#q").fill("");
  await page.keyboard.press("Enter");
  await ready(page);
  assert.ok(await page.locator("#error").isHidden(), "the error goes once the query is good");
  assert.equal(await shownTotal(page), TOTAL);

  assert.deepEqual(problems, [], "no page errors and no requests elsewhere");
  await context.close();
}

async function main() {
  if (!BIN) throw new Error("LOGWEAVE_BIN is not set");
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM} (on Debian: apt-get install chromium)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  const server = startServer();
  let browser;
  const timer = setTimeout(() => {
    log(`FAIL: deadline of ${DEADLINE_MS / 1000} s passed during: ${step}`);
    server.child.kill("SIGKILL");
    process.exit(1);
  }, DEADLINE_MS);
  try {
    step = "starting the server";
    const base = await server.base;
    log(`server at ${base}`);
    step = "filling over _bulk";
    await fill(base, events(Date.now()));
    log(`sent ${TOTAL} events: ${JSON.stringify(COUNTS)}`);
    step = "launching chromium";
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    log(`browser: ${browser.version()}`);
    for (const scheme of ["light", "dark"]) {
      await view(browser, base, scheme);
      log(`ok: ${scheme} mode`);
    }
    log(`screenshots in ${SHOTS}`);
    log("all checks passed");
  } catch (e) {
    log(`FAIL during ${step}: ${e.stack || e}`);
    log(`screenshots (so far) in ${SHOTS}`);
    process.exitCode = 1;
  } finally {
    clearTimeout(timer);
    if (browser) await browser.close().catch(() => {});
    // stop the server; one that takes more than 5 s to drain is killed
    const exited = new Promise((resolve) => server.child.once("exit", resolve));
    server.child.kill("SIGTERM");
    const t0 = Date.now();
    const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    if (!done) server.child.kill("SIGKILL");
    log(`server stopped in ${Date.now() - t0} ms${done ? "" : " (killed)"}`);
    fs.rmSync(server.dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(process.exitCode ?? 0));
