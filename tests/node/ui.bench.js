#!/usr/bin/env node
// How fast the dashboard is over many events, measured in headless
// Chromium (a benchmark, not a test: it prints figures and asserts nothing
// about time).
//
// 1. Loads EVENTS events (default 1,000,000) spread over the last hour into
//    a fresh server over `_bulk` (bodies of 5,000, two connections), with
//    production-like messages (request ids, trace ids, hex hashes).
// 2. Opens the search view over that hour RUNS times and reports, from the
//    page's own clock, first contentful paint, the view complete (total,
//    histogram, level donut, first page of rows: the `logweave:ready:search`
//    mark) and the field sidebar's top values of `service` after a click.
// 3. Streams TAIL_RATE events/s (default 1,000) into the live tail for
//    TAIL_SECONDS (default 600) and samples the page's JS heap after a
//    garbage collection every 30 s: it should stay flat.
//
// Usage: LOGWEAVE_BIN=target/release/logweave node tests/node/ui.bench.js
//   EVENTS, RUNS (5), TAIL_RATE, TAIL_SECONDS, CHROMIUM (/usr/bin/chromium)
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const BIN = process.env.LOGWEAVE_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const EVENTS = Number(process.env.EVENTS || 1_000_000);
const RUNS = Number(process.env.RUNS || 5);
const TAIL_RATE = Number(process.env.TAIL_RATE || 1000);
const TAIL_SECONDS = Number(process.env.TAIL_SECONDS || 600);

const log = (m) => process.stdout.write(`ui.bench: ${m}\n`);
const LEVELS = [["INFO", 70], ["DEBUG", 15], ["WARN", 9], ["ERROR", 5], ["FATAL", 1]];
const SERVICES = ["checkout", "inventory", "auth", "frontend", "payments", "search", "scheduler", "mailer"];

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const hex = (r, n) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");

function event(r, ts) {
  let x = r() * 100;
  let level = "INFO";
  for (const [l, w] of LEVELS) {
    if ((x -= w) < 0) {
      level = l;
      break;
    }
  }
  const svc = SERVICES[Math.floor(r() * SERVICES.length)];
  const kind = r();
  const message =
    kind < 0.5
      ? `GET /api/v1/orders/${Math.floor(r() * 1e6)} ${level === "ERROR" ? 500 : 200} ${Math.floor(r() * 900)}ms req_id=${hex(r, 16)}`
      : kind < 0.8
        ? `user=${["alice", "bob", "chen", "dana"][Math.floor(r() * 4)]} trace_id=${hex(r, 32)} span=${hex(r, 16)} done`
        : `cache ${r() < 0.5 ? "miss" : "hit"} key=sha256:${hex(r, 24)}`;
  return { "@timestamp": new Date(ts).toISOString(), level, service: svc, host: `node-${Math.floor(r() * 12)}`, message };
}

function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logweave-ui-bench-"));
  const child = spawn(BIN, ["server", "--data-dir", path.join(dir, "data"), "--http-addr", "127.0.0.1:0", "--forward-addr", "127.0.0.1:0", "--syslog-addr", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOGWEAVE_LOG: "warn" },
  });
  let out = "";
  const base = new Promise((resolve, reject) => {
    const on = (b) => {
      out += b.toString();
      const m = out.match(/API on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.on("exit", (c) => reject(new Error(`server exited (${c}):\n${out}`)));
  });
  return { child, dir, base };
}

async function bulk(base, evs, refresh) {
  const lines = [];
  for (const e of evs) lines.push('{"index":{"_index":"bench-ui"}}', JSON.stringify(e));
  const res = await fetch(`${base}/_bulk${refresh ? "?refresh=true" : ""}`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: lines.join("\n") + "\n" });
  const body = await res.json();
  if (!res.ok || body.errors) throw new Error(`_bulk: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
}

async function load(base) {
  const r = rng(7);
  const now = Date.now();
  const span = 3600e3 - 60e3;
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < EVENTS) {
      const start = next;
      next += 5000;
      const evs = [];
      for (let i = start; i < Math.min(start + 5000, EVENTS); i++) evs.push(event(r, now - 30e3 - Math.floor((span * i) / EVENTS)));
      await bulk(base, evs, false);
    }
  };
  await Promise.all([worker(), worker()]);
  await fetch(`${base}/_refresh`, { method: "POST" });
  return (Date.now() - t0) / 1000;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (!BIN) throw new Error("LOGWEAVE_BIN is not set (use the release binary)");
  const server = startServer();
  let browser;
  try {
    const base = await server.base;
    log(`server ${base}; loading ${EVENTS.toLocaleString("en-US")} events`);
    const secs = await load(base);
    log(`loaded in ${secs.toFixed(1)} s (${Math.round(EVENTS / secs).toLocaleString("en-US")} events/s, until searchable)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--enable-precise-memory-info"] });
    log(`browser ${browser.version()}, machine ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`);
    const fcp = [], ready = [], sidebar = [], totals = [];
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#index=bench-ui&q=&range=1h`);
      await page.waitForFunction(() => performance.getEntriesByName("logweave:ready:search").length > 0, null, { timeout: 60_000 });
      const m = await page.evaluate(() => ({
        fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime,
        ready: performance.getEntriesByName("logweave:ready:search")[0].startTime,
        total: Number(document.getElementById("total").dataset.total),
      }));
      const clicked = await page.evaluate(() => performance.now());
      await page.locator('#field-list li.field[data-field="service"] button.field-name').click();
      await page.waitForFunction(() => performance.getEntriesByName("logweave:values:service").length > 0, null, { timeout: 60_000 });
      const v = await page.evaluate(() => performance.getEntriesByName("logweave:values:service")[0].startTime);
      fcp.push(m.fcp);
      ready.push(m.ready);
      sidebar.push(v - clicked);
      totals.push(m.total);
      await ctx.close();
    }
    log(`events in range shown: ${totals[0].toLocaleString("en-US")}`);
    log(`first contentful paint: median ${median(fcp).toFixed(0)} ms (${fcp.map((x) => x.toFixed(0)).join(", ")})`);
    log(`search view complete (total, histogram, donut, first 50 rows): median ${median(ready).toFixed(0)} ms (${ready.map((x) => x.toFixed(0)).join(", ")})`);
    log(`field sidebar, top values of service after the click: median ${median(sidebar).toFixed(0)} ms (${sidebar.map((x) => x.toFixed(0)).join(", ")})`);
    log(`first paint + view + sidebar: median ${(median(ready) + median(sidebar)).toFixed(0)} ms`);

    if (TAIL_SECONDS > 0) {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      const cdp = await ctx.newCDPSession(page);
      await page.goto(`${base}/ui/#index=bench-ui&q=&range=15m`);
      await page.waitForFunction(() => document.body.dataset.state === "ready");
      await page.locator("#live").click();
      await page.waitForFunction(() => document.getElementById("tail-scroll").dataset.ready === "true");
      const heap = async () => {
        await cdp.send("HeapProfiler.collectGarbage");
        const u = await cdp.send("Runtime.getHeapUsage");
        const dom = await page.evaluate(() => document.querySelectorAll("#tail tr").length);
        return { mb: u.usedSize / 2 ** 20, dom };
      };
      const samples = [await heap()];
      const r = rng(11);
      const started = Date.now();
      let sent = 0;
      let nextSample = started + 30e3;
      while (Date.now() - started < TAIL_SECONDS * 1000) {
        const tick = Date.now();
        const evs = [];
        for (let i = 0; i < TAIL_RATE / 10; i++) evs.push(event(r, Date.now()));
        await bulk(base, evs, false);
        sent += evs.length;
        if (Date.now() >= nextSample) {
          samples.push(await heap());
          nextSample += 30e3;
        }
        const wait = 100 - (Date.now() - tick);
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
      samples.push(await heap());
      const received = await page.evaluate(() => Number(document.getElementById("tail-scroll").dataset.received));
      const mbs = samples.map((s) => s.mb);
      log(`live tail: ${sent.toLocaleString("en-US")} events sent in ${TAIL_SECONDS} s (${Math.round(sent / TAIL_SECONDS)}/s), ${received.toLocaleString("en-US")} received by the page`);
      log(`live tail heap after GC, every 30 s (MiB): ${mbs.map((x) => x.toFixed(1)).join(", ")}`);
      log(`live tail heap: first ${mbs[0].toFixed(1)}, max ${Math.max(...mbs).toFixed(1)}, last ${mbs.at(-1).toFixed(1)} MiB; table rows at the end ${samples.at(-1).dom}`);
      await ctx.close();
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    server.child.kill("SIGTERM");
    await new Promise((r) => server.child.once("exit", r));
    fs.rmSync(server.dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  log(`failed: ${e.stack || e}`);
  process.exit(1);
});
