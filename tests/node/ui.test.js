#!/usr/bin/env node
// The dashboard in a real browser: Debian's Chromium, headless, driven with
// playwright-core, against a logweave server this script starts and fills
// over `_bulk` with events whose counts per level it knows. Everything is
// judged from the rendered page (DOM text and attributes), never from the
// API responses the page read.
//
// Then every view and feature once more against known data: the field
// sidebar's counts over the whole range, field-name completion, drag to
// zoom, show context, the CSV export, saved searches, the trend view's
// bands and an injected spike, the patterns view's templates, the alerts
// view's silences, the indices view and the live tail.
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
const DEADLINE_MS = 240_000;

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

/** Events of the trend index: 10 a minute for 50 minutes, 300 in minute 35. */
const SPIKE_MINUTE = 35;
function trendEvents(now) {
  const minute = 60e3;
  const start = (Math.floor(now / minute) - 55) * minute;
  const out = [];
  for (let m = 0; m < 50; m++) {
    const k = m === SPIKE_MINUTE ? 300 : 10;
    for (let j = 0; j < k; j++) {
      out.push({ timestamp: new Date(start + m * minute + Math.floor((j * minute) / k)).toISOString(), level: "INFO", service: "trend", message: `tick ${out.length}` });
    }
  }
  return { events: out, spikeStart: start + SPIKE_MINUTE * minute };
}

async function fill(base, evs, index = "ui-test-%{+YYYY.MM.dd}", refresh = true) {
  const lines = [];
  for (const e of evs) lines.push(JSON.stringify({ index: { _index: index } }), JSON.stringify(e));
  const res = await fetch(`${base}/_bulk${refresh ? "?refresh=true" : ""}`, {
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

// ---------------------------------------------------------------- features

/** A small CSV reader (quotes, doubled quotes, commas and newlines in cells). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else if (c !== "\r") cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const seqOf = (message) => Number(/#(\d+)/.exec(message)?.[1]);

async function open(page, hash) {
  await page.goto(`about:blank`);
  await page.goto(hash);
  await ready(page);
}

async function features(browser, base, evs, trend) {
  const context = await browser.newContext({ colorScheme: "light", viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request outside the server: ${r.url()}`);
  });
  const ui = (hash) => `${base}/ui/#${hash}`;

  step = "field sidebar";
  await open(page, ui("index=ui-test-*&q=&range=1h"));
  await page.locator("#field-list li.field", { hasText: /^(text|keyw)\s*service\b/ }).first().waitFor();
  await page.locator('#field-list li.field[data-field="service"] button.field-name').click();
  await page.locator('#field-list ol.values[data-field="service"] li.value').first().waitFor({ timeout: 10_000 });
  const values = await page.$$eval('#field-list ol.values[data-field="service"] li.value', (lis) => Object.fromEntries(lis.map((l) => [l.dataset.value, Number(l.dataset.count)])));
  const perService = {};
  for (const e of evs) perService[e.service] = (perService[e.service] ?? 0) + 1;
  assert.deepEqual(values, perService, "the sidebar counts every event of the range, not the loaded page");
  assert.ok(TOTAL > 50, "more events than one page, so the page cannot be the source");
  await page.screenshot({ path: path.join(SHOTS, "sidebar-light.png"), fullPage: false });
  await page.locator('#field-list ol.values[data-field="service"] li.value[data-value="checkout"] button.in').click();
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes("checkout"));
  await ready(page);
  assert.match(await page.locator("#q").inputValue(), /^service(\.keyword)?:checkout$/, "+ filters in");
  assert.equal(await shownTotal(page), perService.checkout);

  step = "field-name completion";
  await page.locator("#q").fill("");
  await page.locator("#q").focus();
  await page.keyboard.type("serv");
  await page.locator("#suggest li").first().waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#suggest li").first().getAttribute("data-field"), "service", "the shortest matching field first");
  await page.screenshot({ path: path.join(SHOTS, "completion-light.png"), fullPage: false });
  await page.keyboard.press("Tab");
  assert.equal(await page.locator("#q").inputValue(), "service:", "Tab takes the suggestion");
  assert.ok(await page.locator("#suggest").isHidden());

  step = "drag to zoom";
  await open(page, ui("index=ui-test-*&q=&range=1h"));
  const over = await page.locator("#histogram .u-over").boundingBox();
  await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2);
  await page.mouse.down();
  await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => location.hash.includes("range=custom"));
  await ready(page);
  const h = new URLSearchParams(new URL(page.url()).hash.slice(1));
  const zf = Number(h.get("from")), zt = Number(h.get("to"));
  assert.ok(zf < zt, "the zoomed range is in the URL");
  const inZoom = evs.filter((e) => Date.parse(e.timestamp) >= zf && Date.parse(e.timestamp) <= zt).length;
  assert.equal(await shownTotal(page), inZoom, "the total is the events inside the dragged range");
  assert.ok(inZoom > 0 && inZoom < TOTAL);
  assert.equal(await page.locator("#range").inputValue(), "custom");
  assert.ok(await page.locator("#absolute").isVisible(), "the absolute range is shown");

  step = "show context";
  const anchor = 300;
  await open(page, ui(`index=ui-test-*&q=seq:${anchor}&range=1h`));
  assert.equal(await shownTotal(page), 1);
  await page.locator("#results tr.row").first().click();
  await page.locator("#results tr.detail:not([hidden]) button.show-context").click();
  await page.locator(".context-rows tr.anchor").waitFor({ timeout: 10_000 });
  const ctx = await page.$$eval(".context-rows tr", (trs) => trs.map((t) => t.querySelector("td.message").textContent));
  // same service (i % 4) and host (i % 3): i ≡ anchor (mod 12); older
  // events have larger i; five each side, oldest first
  const want = [];
  for (let k = 5; k >= -5; k--) {
    const i = anchor + 12 * k;
    if (i >= 0 && i < evs.length) want.push(i);
  }
  assert.deepEqual(ctx.map(seqOf), want, "the neighbours of the same service and host, oldest first");
  await page.screenshot({ path: path.join(SHOTS, "context-light.png"), fullPage: false });

  step = "CSV export";
  await open(page, ui("index=ui-test-*&q=@level:ERROR&range=1h"));
  const href = await page.locator("#export-csv").getAttribute("href");
  const csv = await (await fetch(new URL(href, `${base}/ui/`))).text();
  const rows = parseCsv(csv);
  const header = rows[0];
  const iLevel = header.indexOf("level"), iMsg = header.indexOf("message");
  assert.ok(iLevel >= 0 && iMsg >= 0, `the CSV has level and message columns: ${header}`);
  const body = rows.slice(1);
  assert.equal(body.length, COUNTS.ERROR, "every matching event is in the CSV");
  assert.deepEqual([...new Set(body.map((r) => r[iLevel]))], ["ERROR"]);
  const wantErr = evs.map((e, i) => [e, i]).filter(([e]) => e.level === "ERROR").map(([, i]) => i).sort((a, b) => a - b);
  assert.deepEqual(body.map((r) => seqOf(r[iMsg])).sort((a, b) => a - b), wantErr, "the same events, each once");
  assert.ok(body.every((r) => r[iMsg].includes("日本語")), "UTF-8 survives");

  step = "saved searches";
  await page.locator("#saved summary").click();
  await page.locator("#saved-name").fill("errors only");
  await page.locator("#saved-save").click();
  await page.locator('#saved-list li[data-name="errors only"]').waitFor({ timeout: 5_000 });
  await open(page, ui("index=*&q=&range=24h"));
  await page.locator("#saved summary").click();
  await page.locator('#saved-list li[data-name="errors only"] button.saved-open').click();
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes("@level:ERROR"));
  await ready(page);
  assert.equal(await page.locator("#q").inputValue(), "@level:ERROR", "the saved query comes back");
  assert.equal(await page.locator("#index").inputValue(), "ui-test-*", "with its index pattern");
  assert.equal(await shownTotal(page), COUNTS.ERROR);

  step = "trend view";
  await open(page, ui("view=trend&index=trend-test&q=&range=1h"));
  const chart = page.locator("#trend-chart");
  assert.equal(Number(await chart.getAttribute("data-total")), trend.events.length, "the trend's counts sum to the events sent");
  assert.equal(await chart.getAttribute("data-bands"), "80,95", "the forecast has nested 80 % and 95 % bands");
  assert.ok(Number(await chart.getAttribute("data-forecast")) > 0, "points ahead are forecast");
  await page.locator("#detect").click();
  await page.locator(`#anomaly-list li[data-kind="spike"][data-start="${trend.spikeStart}"]`).first().waitFor({ timeout: 30_000 });
  await ready(page);
  assert.ok(Number(await chart.getAttribute("data-anomalies")) >= 1, "the spike is marked on the chart");
  const link = await page.locator(`#anomaly-list li[data-kind="spike"][data-start="${trend.spikeStart}"] a`).first().getAttribute("href");
  const lp = new URLSearchParams(link.slice(1));
  assert.ok(Number(lp.get("from")) < trend.spikeStart && Number(lp.get("to")) > trend.spikeStart, "the anomaly links to its events");
  await page.screenshot({ path: path.join(SHOTS, "trend-light.png"), fullPage: true });

  step = "patterns view";
  await open(page, ui("view=patterns&index=ui-test-*&q=&range=1h"));
  const pats = await page.$$eval("#patterns tr.pattern", (trs) => trs.map((t) => ({ id: t.dataset.id, count: Number(t.dataset.count), text: t.querySelector("td.template code").textContent })));
  const payment = pats.filter((p) => p.text.includes("payment failed"));
  const handled = pats.filter((p) => p.text.includes("request handled"));
  assert.equal(payment.reduce((a, p) => a + p.count, 0), COUNTS.ERROR, `the payment template counts the ERROR events: ${JSON.stringify(pats)}`);
  assert.equal(handled.reduce((a, p) => a + p.count, 0), TOTAL - COUNTS.ERROR, "the other template counts the rest");
  // the miner keeps templates per service: one payment row per service
  // with ERROR events, each with that service's count
  const errBySvc = {};
  for (const e of evs) if (e.level === "ERROR") errBySvc[e.service] = (errBySvc[e.service] ?? 0) + 1;
  assert.deepEqual(payment.map((p) => p.count).sort((a, b) => a - b), Object.values(errBySvc).sort((a, b) => a - b), "one payment template per service, with its count");
  await page.screenshot({ path: path.join(SHOTS, "patterns-light.png"), fullPage: true });
  await page.locator(`#patterns tr.pattern[data-id="${payment[0].id}"]`).click();
  await page.waitForFunction(() => location.hash.includes("_pattern"));
  await ready(page);
  assert.equal(await shownTotal(page), payment[0].count, "a click filters the search by the pattern");

  step = "alerts view";
  const sil = await fetch(`${base}/api/v1/silences`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ matchers: [{ name: "alertname", value: "ui-test", isRegex: false }], duration: "2h", createdBy: "ui.test", comment: "ui test silence" }),
  });
  assert.ok(sil.ok, `creating a silence: ${sil.status} ${await sil.text()}`);
  await open(page, ui("view=alerts"));
  assert.ok((await page.locator("#alerts-silences tr.silence").allTextContents()).some((t) => t.includes("ui test silence") && t.includes("alertname=ui-test")), "the silence is listed");
  for (const id of ["alerts-firing", "alerts-pending", "alerts-undeliverable", "alerts-history"]) assert.ok(await page.locator(`#${id}`).isVisible(), `${id} is shown`);
  await page.screenshot({ path: path.join(SHOTS, "alerts-light.png"), fullPage: true });

  step = "indices view";
  await open(page, ui("view=indices"));
  const idx = await page.$$eval("#indices tbody tr", (trs) => Object.fromEntries(trs.map((t) => [t.dataset.index, Number(t.dataset.docs)])));
  assert.equal(idx["trend-test"], trend.events.length);
  // daily indices: a run near midnight UTC splits the events over two days
  const perDay = {};
  for (const e of evs) {
    const name = `ui-test-${e.timestamp.slice(0, 10).replaceAll("-", ".")}`;
    perDay[name] = (perDay[name] || 0) + 1;
  }
  const shown = Object.fromEntries(Object.entries(idx).filter(([k]) => /^ui-test-\d{4}\.\d\d\.\d\d$/.test(k)));
  assert.deepEqual(shown, perDay, `each daily ui-test index holds its day's events: ${JSON.stringify(idx)}`);
  await page.screenshot({ path: path.join(SHOTS, "indices-light.png"), fullPage: true });

  step = "live tail";
  await open(page, ui("index=ui-test-*&q=service:checkout&range=1h"));
  await page.locator("#live").click();
  await page.waitForFunction(() => document.getElementById("tail-scroll").dataset.ready === "true", null, { timeout: 10_000 });
  const probe = { timestamp: new Date().toISOString(), level: "WARN", service: "checkout", host: "node-9", message: "live tail probe A" };
  const other = { timestamp: new Date().toISOString(), level: "WARN", service: "auth", host: "node-9", message: "live tail probe B" };
  const sent = Date.now();
  // no `?refresh`: the event becomes searchable at the server's own pace
  await fill(base, [probe, other], "ui-test-live", false);
  await page.locator("#tail tr.row", { hasText: "live tail probe A" }).waitFor({ timeout: 10_000 });
  const latency = Date.now() - sent;
  log(`live tail: the new event was on the page ${latency} ms after _bulk was sent (target: 2 s)`);
  await page.waitForTimeout(1500);
  assert.equal(await page.locator("#tail tr.row", { hasText: "live tail probe B" }).count(), 0, "a non-matching event is not streamed");
  assert.equal(await page.locator("#tail tr.row").count(), 1, "only the new matching event");
  await page.screenshot({ path: path.join(SHOTS, "live-tail-light.png"), fullPage: false });
  await page.locator("#live").click();
  assert.ok(await page.locator("#results-wrap").isVisible(), "stopping the tail brings the results back");

  assert.deepEqual(problems, [], "no page errors and no requests elsewhere");
  await context.close();

  step = "dark screenshots of every view";
  const dark = await browser.newContext({ colorScheme: "dark", viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const dp = await dark.newPage();
  for (const [name, hash] of [
    ["trend", "view=trend&index=trend-test&q=&range=1h"],
    ["patterns", "view=patterns&index=ui-test-*&q=&range=1h"],
    ["alerts", "view=alerts"],
    ["indices", "view=indices"],
    ["sidebar", "index=ui-test-*&q=&range=1h"],
  ]) {
    await open(dp, ui(hash));
    if (name === "sidebar") {
      await dp.locator('#field-list li.field[data-field="level"] button.field-name').click();
      await dp.locator('#field-list ol.values[data-field="level"] li.value').first().waitFor({ timeout: 10_000 });
    }
    await dp.screenshot({ path: path.join(SHOTS, `${name}-dark.png`), fullPage: true });
  }
  await dark.close();

  step = "laptop and wide screens";
  for (const [name, width, height] of [["laptop", 1280, 720], ["wide", 2560, 1300]]) {
    const c = await browser.newContext({ colorScheme: "light", viewport: { width, height }, deviceScaleFactor: 1 });
    const p = await c.newPage();
    await open(p, ui("index=ui-test-*&q=&range=1h"));
    // nothing wider than the window: no horizontal scrolling
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${name}: the page fits the window's width (overflow ${overflow} px)`);
    await p.screenshot({ path: path.join(SHOTS, `search-${name}.png`), fullPage: false });
    await c.close();
  }
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
    const evs = events(Date.now());
    await fill(base, evs);
    log(`sent ${TOTAL} events: ${JSON.stringify(COUNTS)}`);
    step = "launching chromium";
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    log(`browser: ${browser.version()}`);
    for (const scheme of ["light", "dark"]) {
      await view(browser, base, scheme);
      log(`ok: ${scheme} mode`);
    }
    step = "filling the trend index";
    const trend = trendEvents(Date.now());
    await fill(base, trend.events, "trend-test");
    await features(browser, base, evs, trend);
    log("ok: sidebar, completion, zoom, context, export, saved searches, trend, patterns, alerts, indices, live tail");
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
