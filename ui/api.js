// The dashboard's requests: only the public Elasticsearch-compatible API
// (`POST /<index>/_search` with aggregations), so every view can be scripted.

/** Time ranges of the picker, in milliseconds. */
export const RANGES = {
  "15m": 15 * 60e3,
  "1h": 3600e3,
  "24h": 86400e3,
  "7d": 7 * 86400e3,
};

/** Histogram steps, seconds; the smallest giving at most 120 bars is used. */
const STEPS_S = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400];

export function intervalFor(spanMs) {
  const s = STEPS_S.find((s) => spanMs / (s * 1000) <= 120) ?? 86400;
  return s * 1000;
}

/** Levels in the order they are stacked (bottom first) and listed. */
export const LEVELS = ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/** The `_search` body for one view: newest rows, total, histogram, levels. */
export function searchBody({ q, range }, now = Date.now()) {
  const span = RANGES[range] ?? RANGES["1h"];
  const step = intervalFor(span);
  const from = now - span;
  const to = now;
  const filter = [{ range: { "@timestamp": { gte: from, lte: to, format: "epoch_millis" } } }];
  const query = q.trim()
    ? { bool: { must: [{ query_string: { query: q } }], filter } }
    : { bool: { filter } };
  const levels = { terms: { field: "@level", size: 20 } };
  return {
    from,
    to,
    step,
    body: {
      size: 50,
      track_total_hits: true,
      sort: [{ "@timestamp": { order: "desc" } }],
      query,
      aggs: {
        levels,
        volume: {
          date_histogram: {
            field: "@timestamp",
            fixed_interval: `${step / 1000}s`,
            min_doc_count: 0,
            extended_bounds: { min: from, max: to },
          },
          aggs: { levels },
        },
      },
    },
  };
}

/** An error the API answered, with its reason as Elasticsearch words it. */
export class ApiError extends Error {
  constructor(status, reason, type) {
    super(reason);
    this.status = status;
    this.type = type;
  }
}

function reasonOf(json, status) {
  const e = json && json.error;
  if (typeof e === "string") return [e, undefined];
  if (e && typeof e === "object") {
    const reason = e.reason ?? e.root_cause?.[0]?.reason ?? JSON.stringify(e);
    return [reason, e.type];
  }
  return [`HTTP ${status}`, undefined];
}

/** `POST /<index>/_search`; resolves to the response, rejects with ApiError. */
export async function search(index, body, signal) {
  const path = "/" + encodeURIComponent(index.trim() || "*").replace(/%2C/gi, ",").replace(/%2A/gi, "*") + "/_search";
  let res;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `cannot reach the server: ${e.message}`);
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok || !json) {
    const [reason, type] = reasonOf(json, res.status);
    throw new ApiError(res.status, reason, type);
  }
  return json;
}
