#!/usr/bin/env node
// Send events to a Fluentd forward server with Fluentd's own Node client
// (@fluent-org/logger), so that logweave is tested against a real peer and
// not only against frames we built ourselves.
//
// Usage: node send.js '<json options>'
//   port             forward port on 127.0.0.1 (required)
//   tag              event tag (required)
//   eventMode        Message | Forward | PackedForward | CompressedPackedForward
//   ack              true: ask for an ack per chunk and wait for it
//   ackTimeoutMs     how long one ack may take (default 10000; the library's is 500)
//   sharedKey        when set, do the shared-key handshake with this key
//   clientHostname   our name in the handshake (default "logweave-test-client")
//   count            number of events (default 10)
//   prefix           message prefix: message = prefix + "-" + i
//   time             null: EventTime.now() per event; or {epoch, nano, stepMs}:
//                    event i at epoch s + nano ns + i * stepMs ms (exact EventTime)
//   timeFormat       "EventTime" (default) or "seconds": let the client send an
//                    integer time (it floors milliseconds to seconds itself)
//   timeoutMs        overall deadline for all emits (default 15000)
//
// Prints one JSON line: {ok, sent, failed, timedOut, fatalClose, errors,
// socketErrors, events: [{i, message, epoch, nano}], frames: [{bytes, shape,
// head}] (every packet written, the PING included)}. Exits 0 only if every
// emit resolved (with ack: was acknowledged); 1 if any failed, the deadline
// passed or the handshake failed (the socket closed for good); 2 on bad usage.
"use strict";

const path = require("path");
const PKG = path.join(__dirname, "node_modules", "@fluent-org", "logger");
const { FluentClient, EventTime } = require(PKG);
// Only to describe the frames we send in the summary (not to build them).
const protocol = require(path.join(PKG, "build", "src", "protocol"));

const MODES = ["Message", "Forward", "PackedForward", "CompressedPackedForward"];

function fail(msg) {
  process.stderr.write("send.js: " + msg + "\n");
  process.exit(2);
}

let opts;
try {
  opts = JSON.parse(process.argv[2] || "");
} catch (e) {
  fail("first argument must be a JSON object of options: " + e.message);
}
if (!Number.isInteger(opts.port)) fail("port (integer) is required");
if (!opts.tag) fail("tag is required");
const mode = opts.eventMode || "PackedForward";
if (!MODES.includes(mode)) fail("eventMode must be one of " + MODES.join(", "));
const count = opts.count === undefined ? 10 : opts.count;
const prefix = opts.prefix || "evt";
const timeoutMs = opts.timeoutMs || 15000;
const timeFormat = opts.timeFormat || "EventTime";
if (!["EventTime", "seconds"].includes(timeFormat)) fail("timeFormat must be EventTime or seconds");

const clientOpts = {
  eventMode: mode,
  socket: { host: "127.0.0.1", port: opts.port },
};
if (opts.ack) clientOpts.ack = { ackTimeout: opts.ackTimeoutMs || 10000 };
if (opts.sharedKey !== undefined && opts.sharedKey !== null) {
  clientOpts.security = {
    clientHostname: opts.clientHostname || "logweave-test-client",
    sharedKey: opts.sharedKey,
  };
}

const client = new FluentClient(opts.tag, clientOpts);

// What actually goes over the wire: the library writes one packet per frame.
const frames = [];
const socket = client.socket; // private in the typings, plain property at run time
const realWrite = socket.innerWrite.bind(socket);
socket.innerWrite = (data) => {
  frames.push({ bytes: data.length, shape: describe(data), head: Buffer.from(data.subarray(0, 24)).toString("hex") });
  return realWrite(data);
};
const socketErrors = [];
// A failed handshake closes the socket for good (the library's FATAL state)
// and leaves the events queued forever: stop waiting as soon as that happens.
const FATAL = 8; // SocketState.FATAL in build/src/socket.js
let onFatal;
const fatal = new Promise((resolve) => {
  onFatal = resolve;
});
client.socketOn("error", (err) => socketErrors.push(String(err && (err.name + ": " + err.message))));
// (wait for "close": shutting down before the socket is gone never finishes)
client.socketOn("close", () => {
  if (socket.state === FATAL) onFatal("fatal");
});

// A short rendering of a frame: types and sizes, not every record.
function shape(v, depth) {
  if (v instanceof EventTime) return "EventTime(" + v.epoch + "," + v.nano + ")";
  if (v instanceof Uint8Array) return "bin[" + v.length + "]";
  if (Array.isArray(v)) {
    if (depth > 1) return "array[" + v.length + "]";
    const shown = v.slice(0, 4).map((x) => shape(x, depth + 1));
    if (v.length > 4) shown.push("...(" + v.length + " items)");
    return shown;
  }
  if (v !== null && typeof v === "object") {
    if (depth > 1) return "map{" + Object.keys(v).join(",") + "}";
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = shape(x, depth + 1);
    return o;
  }
  if (typeof v === "string" && v.length > 40) return v.slice(0, 40) + "...";
  return v;
}

function describe(data) {
  try {
    return shape(protocol.decode(data), 0);
  } catch (e) {
    return "undecodable: " + e.message;
  }
}

function eventTime(i) {
  if (!opts.time) return EventTime.now();
  const ns = BigInt(opts.time.epoch) * 1000000000n + BigInt(opts.time.nano || 0) +
    BigInt(i) * BigInt(opts.time.stepMs || 0) * 1000000n;
  return new EventTime(Number(ns / 1000000000n), Number(ns % 1000000000n));
}

async function main() {
  const events = [];
  const promises = [];
  for (let i = 0; i < count; i++) {
    const t = eventTime(i);
    const record = { message: prefix + "-" + i, i, mode };
    // "seconds": hand the client milliseconds and let it send an integer.
    const ts = timeFormat === "seconds" ? t.epoch * 1000 + Math.floor(t.nano / 1e6) : t;
    events.push({ i, message: record.message, epoch: t.epoch, nano: t.nano });
    promises.push(client.emit(record, ts));
  }
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => resolve("deadline"), timeoutMs);
  });
  const settled = await Promise.race([Promise.allSettled(promises), deadline, fatal]);
  clearTimeout(timer);

  let results;
  let timedOut = false;
  let fatalClose = false;
  if (settled === "deadline" || settled === "fatal") {
    timedOut = settled === "deadline";
    fatalClose = settled === "fatal";
    // Whatever is still queued (e.g. never sent because the handshake failed)
    // is rejected by shutdown(); collect the final state of every emit.
    const shutdown = client.shutdown().catch(() => {});
    results = await Promise.race([
      Promise.allSettled(promises),
      new Promise((r) => setTimeout(() => r(null), 2000)),
    ]);
    await Promise.race([shutdown, new Promise((r) => setTimeout(r, 2000))]);
  } else {
    results = settled;
    await Promise.race([client.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  }

  const errors = {};
  let sent = 0;
  let failed = 0;
  (results || promises.map(() => ({ status: "pending" }))).forEach((r) => {
    if (r.status === "fulfilled") {
      sent += 1;
    } else {
      failed += 1;
      const why = r.status === "pending" ? "still pending" : String(r.reason && (r.reason.name + ": " + r.reason.message));
      errors[why] = (errors[why] || 0) + 1;
    }
  });
  const ok = failed === 0 && !timedOut && !fatalClose;
  const summary = { ok, mode, ack: !!opts.ack, sent, failed, timedOut, fatalClose, errors, socketErrors, frames, events };
  // Exit once the line is out (a pipe takes 64 KiB at a time): do not wait
  // for reconnect timers or half-closed sockets.
  process.stdout.write(JSON.stringify(summary) + "\n", () => process.exit(ok ? 0 : 1));
}

main().catch((e) => {
  process.stderr.write("send.js: " + (e && e.stack) + "\n");
  process.exit(1);
});
