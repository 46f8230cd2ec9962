#!/usr/bin/env node
// A Fluentd forward receiver made with Fluentd's own Node server
// (@fluent-org/logger's FluentServer): the real peer for tests of logweave as
// a forward *client* (the agent).
//
// Usage: node receive.js ['<json options>']
//   sharedKey        when set, require the shared-key handshake with this key
//   serverHostname   our name in the handshake (default "logweave-test-receiver")
//
// Listens on 127.0.0.1 on an ephemeral port. stdout: first line {"port":N},
// then one line per received entry:
//   {"tag":"...","time":<seconds, float>,"time_ns":<integer ns>,"record":{...}}
// (time_ns is exact; time is a float for convenience). Runs until SIGTERM or
// SIGINT, then closes the server and exits 0.
"use strict";

const path = require("path");
const { FluentServer, EventTime } = require(path.join(__dirname, "node_modules", "@fluent-org", "logger"));

let opts = {};
if (process.argv[2]) {
  try {
    opts = JSON.parse(process.argv[2]);
  } catch (e) {
    process.stderr.write("receive.js: first argument must be a JSON object of options: " + e.message + "\n");
    process.exit(2);
  }
}

const serverOpts = { listenOptions: { host: "127.0.0.1", port: 0 } };
if (opts.sharedKey !== undefined && opts.sharedKey !== null) {
  serverOpts.security = {
    serverHostname: opts.serverHostname || "logweave-test-receiver",
    sharedKey: opts.sharedKey,
    authorize: false,
    userDict: {},
  };
}

// Entry times arrive as EventTime (ext 0) or as an integer (seconds).
function timeNs(time) {
  if (time instanceof EventTime) return BigInt(time.epoch) * 1000000000n + BigInt(time.nano);
  if (typeof time === "number") return BigInt(Math.round(time * 1e9));
  return null;
}

// msgpack bin values would otherwise become {"0":..,"1":..} in JSON.
function jsonable(key, value) {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("utf8");
  if (value instanceof EventTime) return value.epoch + value.nano / 1e9;
  if (typeof value === "bigint") return value.toString();
  return value;
}

function write(line) {
  process.stdout.write(line + "\n");
}

// Exit only after everything written so far has left (a pipe may be full).
function exitAfterOutput(code) {
  process.stdout.write("", () => process.exit(code));
}

const server = new FluentServer(serverOpts);
server.on("entry", (tag, time, record) => {
  const ns = timeNs(time);
  const head = JSON.stringify({ tag, time: ns === null ? null : Number(ns) / 1e9 });
  // time_ns is spliced in as text: as a JS number it would lose nanoseconds.
  const body = JSON.stringify(record, jsonable);
  write(head.slice(0, -1) + ',"time_ns":' + (ns === null ? "null" : ns.toString()) + ',"record":' + body + "}");
});

let closing = false;
function stop() {
  if (closing) return;
  closing = true;
  // close() waits for clients to hang up: give them 2 s.
  const timer = setTimeout(() => exitAfterOutput(0), 2000);
  server.close().then(() => {
    clearTimeout(timer);
    exitAfterOutput(0);
  });
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

server.listen().then(
  () => write(JSON.stringify({ port: server.port })),
  (e) => {
    process.stderr.write("receive.js: listen failed: " + (e && e.stack) + "\n");
    process.exit(1);
  },
);
