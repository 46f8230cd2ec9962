// The dashboard's requests: only the public API (the Elasticsearch-compatible
// `_search` with aggregations, and `/api/v1/`), so every view can be scripted.

/** Relative time ranges of the picker, in milliseconds. */
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

/** The view's time window: a relative range ends now, a custom one is fixed. */
export function windowOf(state, now = Date.now()) {
  if (state.range === "custom" && Number.isFinite(state.from) && Number.isFinite(state.to) && state.from < state.to) {
    return { from: state.from, to: state.to };
  }
  const span = RANGES[state.range] ?? RANGES["1h"];
  return { from: now - span, to: now };
}

/** The `query` of a `_search` body: the query bar within the window. */
export function queryOf(q, from, to) {
  const filter = [{ range: { "@timestamp": { gte: from, lte: to, format: "epoch_millis" } } }];
  return q.trim() ? { bool: { must: [{ query_string: { query: q } }], filter } } : { bool: { filter } };
}

/** Newest first, `_doc` breaking ties, so "older" pages continue exactly. */
export const NEWEST_FIRST = [{ "@timestamp": { order: "desc", unmapped_type: "date" } }, { _doc: { order: "desc" } }];

/** Rows per page of the results table. */
export const PAGE = 50;

/** The `_search` body for the search view: rows, total, histogram, levels. */
export function searchBody(state, now = Date.now()) {
  const { from, to } = windowOf(state, now);
  const step = intervalFor(to - from);
  const levels = { terms: { field: "@level", size: 20 } };
  return {
    from,
    to,
    step,
    body: {
      size: PAGE,
      track_total_hits: true,
      sort: NEWEST_FIRST,
      query: queryOf(state.q, from, to),
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

/** `/<index>` with the pattern's commas and stars kept readable. */
export function indexPath(index) {
  return "/" + encodeURIComponent(index.trim() || "*").replace(/%2C/gi, ",").replace(/%2A/gi, "*");
}

/** A URL under this server with query parameters (empty ones left out). */
export function url(path, params = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const qs = p.toString();
  return qs ? `${path}?${qs}` : path;
}

/** fetch + JSON; resolves to the answer, rejects with ApiError. */
export async function request(method, path, body, signal) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
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

/** `POST /<index>/_search`. */
export function search(index, body, signal) {
  return request("POST", indexPath(index) + "/_search", body, signal);
}

/** `GET` of an `/api/v1/` endpoint. */
export function get(path, params, signal) {
  return request("GET", url(path, params), undefined, signal);
}

/**
 * Field names of the indices an index pattern names, from `_mapping`
 * (objects walked, multi-fields as `name.keyword`), with the normalised
 * fields every event has.
 */
export async function fieldNames(index, signal) {
  const names = new Map([
    ["@timestamp", "date"],
    ["@level", "keyword"],
    ["@service", "keyword"],
    ["@host", "keyword"],
    ["_pattern", "keyword"],
  ]);
  let json = {};
  try {
    json = await request("GET", indexPath(index) + "/_mapping", undefined, signal);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    return names; // no index yet: the normalised fields only
  }
  const walk = (props, prefix) => {
    for (const [k, v] of Object.entries(props ?? {})) {
      const name = prefix + k;
      if (v.properties) walk(v.properties, name + ".");
      if (v.type) {
        if (!names.has(name)) names.set(name, v.type);
        // a sub-field without doc values (a message's `.keyword`) can be
        // matched but not aggregated: not listed
        for (const [sub, sv] of Object.entries(v.fields ?? {})) {
          if (sv.doc_values === false) continue;
          if (!names.has(`${name}.${sub}`)) names.set(`${name}.${sub}`, sv.type);
        }
      }
    }
  };
  for (const idx of Object.values(json)) walk(idx?.mappings?.properties, "");
  return names;
}
