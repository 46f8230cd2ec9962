// The live tail: `GET /api/v1/tail` (server-sent events, filtered by the
// server with the query bar's query). New events go to the bottom, like
// `tail -f`; the list follows them only while the reader is at the bottom,
// so it never moves under someone reading. Rendering is throttled to a few
// frames per second and the list keeps the newest rows only, so an hour of
// 1,000 events/s costs the page no more than a minute of it.

import { url } from "./api.js";
import { buildRows, renderHead } from "./table.js";

/** Rows kept in the list; older ones are dropped from the top. */
const MAX_ROWS = 500;
/** Events waiting to be drawn, at most (more are counted, not kept). */
const MAX_PENDING = 2000;
/** At most this often the list is redrawn. */
const FRAME_MS = 250;

export class LiveTail {
  constructor({ scroll, table, jump, status, onState }) {
    this.scroll = scroll;
    this.thead = table.querySelector("thead");
    this.tbody = table.querySelector("tbody");
    this.jump = jump;
    this.status = status;
    this.onState = onState;
    this.source = null;
    this.pending = [];
    this.skipped = 0;
    this.received = 0;
    this.shown = 0;
    this.paused = false;
    this.timer = null;
    this.expanded = new Set();
    this.cols = [];
    this.index = "";
    scroll.addEventListener("scroll", () => {
      if (this.atBottom()) jump.hidden = true;
    });
    jump.addEventListener("click", () => this.toBottom());
  }

  get running() {
    return this.source !== null;
  }

  /** Start streaming for `state` (index, q, cols); restarts if running. */
  start(state) {
    this.stop();
    this.cols = state.cols;
    this.index = state.index;
    renderHead(this.thead, this.cols);
    this.tbody.replaceChildren();
    this.pending = [];
    this.skipped = this.received = this.shown = 0;
    this.paused = false;
    this.scroll.dataset.received = "0";
    this.scroll.dataset.ready = "false";
    const src = new EventSource(url("/api/v1/tail", { index: state.index, query: state.q, limit: 1000 }));
    this.source = src;
    src.addEventListener("ready", () => {
      this.scroll.dataset.ready = "true";
      this.say();
    });
    src.addEventListener("hits", (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      const hits = msg.hits ?? [];
      this.received += hits.length;
      this.skipped += msg.left_out ?? 0;
      for (const h of hits) {
        if (this.pending.length < MAX_PENDING) this.pending.push(h);
        else this.skipped++;
      }
      this.scroll.dataset.received = String(this.received);
      this.schedule();
    });
    src.addEventListener("lagged", (e) => {
      try {
        this.skipped += JSON.parse(e.data).missed_commits ?? 0;
      } catch {
        /* counted as nothing */
      }
      this.say();
    });
    src.addEventListener("error", (e) => {
      // An `event: error` from the server carries a reason; a transport
      // error has none and EventSource reconnects by itself.
      if (e.data) {
        try {
          this.status.textContent = `tail: ${JSON.parse(e.data).reason}`;
        } catch {
          /* shown below */
        }
      } else if (src.readyState === EventSource.CONNECTING) {
        this.status.textContent = "tail: reconnecting…";
      }
    });
    this.onState?.(true);
    this.say();
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.onState?.(false);
  }

  /** Pause keeps receiving (counted) but stops drawing. */
  setPaused(p) {
    this.paused = p;
    if (!p) this.schedule();
    this.say();
  }

  atBottom() {
    const s = this.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 8;
  }

  toBottom() {
    this.scroll.scrollTop = this.scroll.scrollHeight;
    this.jump.hidden = true;
  }

  schedule() {
    if (this.timer || this.paused) {
      this.say();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      requestAnimationFrame(() => this.flush());
    }, FRAME_MS);
  }

  flush() {
    if (this.paused || !this.pending.length) {
      this.say();
      return;
    }
    const follow = this.atBottom();
    const batch = this.pending.splice(0, MAX_ROWS);
    this.tbody.append(...buildRows(batch, this.cols, this.expanded, this.index));
    this.shown += batch.length;
    // keep the newest rows (each event is a row and its hidden detail)
    const extra = this.tbody.children.length - 2 * MAX_ROWS;
    if (extra > 0) {
      const before = this.scroll.scrollHeight;
      for (let i = 0; i < extra; i++) this.tbody.firstElementChild?.remove();
      // rows removed above the reader: keep what they look at in place
      if (!follow) this.scroll.scrollTop -= before - this.scroll.scrollHeight;
    }
    if (follow) this.toBottom();
    else this.jump.hidden = false;
    this.scroll.dataset.rows = String(this.tbody.querySelectorAll("tr.row").length);
    this.say();
    if (this.pending.length) this.schedule();
  }

  say() {
    if (!this.source) {
      this.status.textContent = "";
      return;
    }
    const parts = [this.scroll.dataset.ready === "true" ? (this.paused ? "paused" : "live") : "connecting…"];
    parts.push(`${this.received.toLocaleString("en-US")} received`);
    if (this.paused && this.pending.length) parts.push(`${this.pending.length.toLocaleString("en-US")} waiting`);
    if (this.skipped) parts.push(`${this.skipped.toLocaleString("en-US")} not shown (too fast)`);
    this.status.textContent = parts.join(" · ");
  }
}
