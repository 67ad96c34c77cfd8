// History charts shared by the fleet and thing pages: tailLog requests per time range,
// uPlot charts with one unit per axis, the time axis in a chosen UTC offset, and the
// loading / empty / error states.
//
// Time zones: the configured ones (aggrTailLogTimezones) are fixed UTC offsets, not IANA
// names, so uPlot.tzDate (which needs an IANA name) cannot be used. Instead the charts
// give uPlot a `tzDate` that returns a Date whose *local* fields are the wall clock at
// that offset (ts + offset read as UTC): uPlot then puts its ticks on that offset's hours
// and midnights. Timestamps themselves are never shifted (the data, the cursor and the
// x range stay true epoch seconds), and the labels are formatted from ts + offset here,
// so they do not depend on the browser's own time zone.
//
// Every chart container gets `data-state` (loading | ok | empty | error), `data-points`
// (entries drawn) and `data-x-ticks` (JSON [[epoch s, label], …] of the time axis) so the
// page can be tested without reading canvas pixels.

const MIN = 60_000, HOUR = 3_600_000, DAY = 86_400_000;

// Which log each range reads. Stat logs come pre-rolled at every level; thing logs only
// exist at 5 minutes, so longer ranges merge them per window with groupRange.
export const RANGES = {
  "1h": { ms: HOUR, statKey: "stat-5m", step: 5 * MIN, thingGroup: null, refresh: true },
  "24h": { ms: DAY, statKey: "stat-5m", step: 5 * MIN, thingGroup: null, refresh: true },
  "7d": { ms: 7 * DAY, statKey: "stat-30m", step: 30 * MIN, thingGroup: "1h", refresh: false },
  "30d": { ms: 30 * DAY, statKey: "stat-3h", step: 3 * HOUR, thingGroup: "3h", refresh: false },
};
export const DEFAULT_RANGE = "24h";
export const REFRESH_MS = 60_000;
const GROUP_MS = { "1h": HOUR, "3h": 3 * HOUR };
const LIMIT = 5000;

// -- API ------------------------------------------------------------------------------------

/** GET or POST JSON with the session cookie; throws "ERR_…: message" on an API error. */
export async function call(url, init) {
  let resp;
  try {
    resp = await fetch(url, { credentials: "same-origin", ...init });
  } catch (err) {
    throw new Error(`network error: ${err.message || err}`);
  }
  if (resp.status === 401) { location.href = "/login"; throw new Error("ERR_AUTH_REQUIRED: log in again"); }
  let data = null;
  try { data = await resp.json(); } catch { /* not JSON: reported below */ }
  if (!resp.ok) {
    const code = (data && data.error) || `HTTP ${resp.status}`;
    throw new Error(data && data.message ? `${code}: ${data.message}` : code);
  }
  if (data === null) throw new Error("the server's answer is not JSON");
  return data;
}

export function tailLog(body) {
  return call("/rpc/tailLog", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}

/** The configured timezones; UTC alone when they cannot be read. */
export async function loadTimezones() {
  try {
    const zones = await call("/api/history/timezones");
    if (Array.isArray(zones) && zones.length) return zones.filter((z) => Number.isInteger(z.offset));
  } catch (err) {
    console.warn("timezones", err);
  }
  return [{ code: "UTC", offset: 0 }];
}

/** The window [from, to] (ms) a range shows, ending now. */
export function windowOf(range, now = Date.now()) {
  const r = RANGES[range] || RANGES[DEFAULT_RANGE];
  return { from: now - r.ms, to: now };
}

/** Stat-log entries (oldest first) of a type over a range. */
export async function statHistory(type, range, fields, now = Date.now()) {
  const r = RANGES[range] || RANGES[DEFAULT_RANGE];
  const { from, to } = windowOf(range, now);
  const body = { type, key: r.statKey, start: from, end: to, limit: LIMIT, fields: ones(fields) };
  const rows = await tailLog(body);
  return { rows: rows.reverse(), step: r.step, from, to };
}

/** One thing's thing-5m entries (oldest first); merged per window on long ranges. */
export async function thingHistory(type, thingId, range, fields, now = Date.now()) {
  const r = RANGES[range] || RANGES[DEFAULT_RANGE];
  const { from, to } = windowOf(range, now);
  const body = { type, key: `thing-5m-${thingId}`, start: from, end: to, limit: LIMIT };
  if (!r.thingGroup) {
    body.fields = ones(fields);
    const rows = await tailLog(body);
    return { rows: rows.reverse(), step: 5 * MIN, from, to };
  }
  body.aggrFields = ones(fields.map((f) => `${f}_aggr`));
  body.groupRange = r.thingGroup;
  const merged = await tailLog(body);
  // X_aggr is X merged: give the charts the plain names back.
  const rows = merged.reverse().map((m) => {
    const row = { ts: m.ts };
    for (const f of fields) row[f] = m[`${f}_aggr`];
    return row;
  });
  return { rows, step: GROUP_MS[r.thingGroup], from, to };
}

function ones(names) {
  return Object.fromEntries(names.map((n) => [n, 1]));
}

// -- time -----------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** "UTC+05:45" for an offset in ms. */
export function offsetLabel(offset) {
  const sign = offset < 0 ? "-" : "+";
  const m = Math.abs(offset) / MIN;
  return `UTC${sign}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

export function zoneLabel(zone) {
  return zone.offset === 0 && zone.code === "UTC" ? "UTC" : `${zone.code} (${offsetLabel(zone.offset)})`;
}

/** The wall clock at `offset` as a Date whose UTC fields are that clock. */
function wall(tsSec, offset) {
  return new Date(tsSec * 1000 + offset);
}

/** uPlot tzDate: a Date whose local fields are the wall clock at `offset`. */
function tzDateOf(offset) {
  return (tsSec) => {
    const d = wall(tsSec, offset);
    return new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(),
      d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  };
}

function hhmm(d) { return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`; }
function mmdd(d) { return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`; }

/** "2024-05-01 13:45" at `offset`. */
export function formatTime(tsSec, offset) {
  const d = wall(tsSec, offset);
  return `${d.getUTCFullYear()}-${mmdd(d)} ${hhmm(d)}`;
}

/** Time-axis labels: HH:mm within a day (the date at midnight), MM-DD for day steps. */
export function axisLabel(tsSec, offset, incrSec) {
  const d = wall(tsSec, offset);
  if (incrSec >= DAY / 1000) return mmdd(d);
  const t = hhmm(d);
  return t === "00:00" ? mmdd(d) : t;
}

// -- units ----------------------------------------------------------------------------------

const UNITS = {
  hashrate: [[1e18, "EH/s"], [1e15, "PH/s"], [1e12, "TH/s"], [1e9, "GH/s"], [1e6, "MH/s"], [1e3, "kH/s"], [1, "H/s"]],
  power: [[1e6, "MW"], [1e3, "kW"], [1, "W"]],
  efficiency: [[1, "J/TH"]],
  count: [[1, ""]],
  temp: [[1, "°C"]],
};

/** The unit for values up to `max`: one per chart, so every tick reads the same. */
export function pickUnit(kind, max) {
  const units = UNITS[kind] || [[1, ""]];
  for (const [factor, name] of units) if (Math.abs(max) >= factor) return { factor, name };
  const [factor, name] = units[units.length - 1];
  return { factor, name };
}

/** Tick labels: whole numbers stay whole. */
function fmtTick(v) {
  const a = Math.abs(v);
  return v.toFixed(a >= 100 || Number.isInteger(v) ? 0 : a >= 10 ? 1 : 2);
}

/** Legend values: three significant digits or so. */
function fmtValue(v) {
  const a = Math.abs(v);
  return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

// -- the chart ------------------------------------------------------------------------------

/**
 * A chart in `root`, which holds `.hchart-plot` and `.hchart-msg` (created when missing).
 * `series`: [{label, color}], all in one unit of `kind` (hashrate | power | efficiency |
 * count | temp). `zero`: the y axis starts at 0.
 */
export class HistoryChart {
  constructor(root, { kind, series, zero = true, height = 200 }) {
    this.root = root;
    this.kind = kind;
    this.series = series;
    this.zero = zero;
    this.height = height;
    this.plot = root.querySelector(".hchart-plot") || root.appendChild(document.createElement("div"));
    this.plot.classList.add("hchart-plot");
    this.msg = root.querySelector(".hchart-msg") || root.appendChild(document.createElement("p"));
    this.msg.classList.add("hchart-msg");
    this.u = null;
    this.setState("loading", "Loading…");
  }

  setState(state, text) {
    this.root.dataset.state = state;
    this.msg.textContent = text || "";
    this.msg.hidden = !text;
    if (state !== "ok") {
      this.root.dataset.points = "0";
      this.root.dataset.xTicks = "[]";
    }
  }

  loading() {
    // Keep the last chart on screen while a refresh is under way.
    if (!this.u) this.setState("loading", "Loading…");
  }

  destroy() {
    if (this.u) { this.u.destroy(); this.u = null; }
    this.plot.replaceChildren();
  }

  error(err) {
    this.destroy();
    this.setState("error", `Could not load history: ${err && err.message ? err.message : err}`);
  }

  empty(text = "No data for this range.") {
    this.destroy();
    this.setState("empty", text);
  }

  resize() {
    if (this.u) this.u.setSize({ width: this.width(), height: this.height });
  }

  width() {
    return Math.max(240, Math.floor(this.plot.clientWidth || this.root.clientWidth || 480));
  }

  /**
   * Draw `xs` (epoch ms, ascending) against `ys` (one array per series, null = no value)
   * over [from, to] (ms). Entries further apart than 1.5 steps get a break in the line.
   */
  draw({ xs, ys, from, to, step, offset }) {
    const keep = xs.map((_, i) => ys.some((s) => s[i] !== null && s[i] !== undefined && Number.isFinite(s[i])));
    const points = keep.filter(Boolean).length;
    if (!points) { this.empty(); return; }
    let max = 0;
    for (const s of ys) for (const v of s) if (v !== null && v !== undefined && Number.isFinite(v)) max = Math.max(max, Math.abs(v));
    const unit = pickUnit(this.kind, max);
    // Scale into the unit and break lines over gaps.
    const X = [], Y = ys.map(() => []);
    let prev = null;
    xs.forEach((x, i) => {
      if (!keep[i]) return;
      if (prev !== null && x - prev > step * 1.5) {
        X.push((prev + step) / 1000);
        Y.forEach((col) => col.push(null));
      }
      X.push(x / 1000);
      ys.forEach((s, j) => {
        const v = s[i];
        Y[j].push(v === null || v === undefined || !Number.isFinite(v) ? null : v / unit.factor);
      });
      prev = x;
    });
    this.destroy();
    this.setState("ok", "");
    this.root.dataset.points = String(points);
    this.root.dataset.unit = unit.name;
    const root = this.root;
    const fromS = from / 1000, toS = to / 1000;
    const zero = this.zero;
    const suffix = unit.name ? ` ${unit.name}` : "";
    this.u = new window.uPlot({
      width: this.width(),
      height: this.height,
      tzDate: tzDateOf(offset),
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: () => [fromS, toS] },
        y: {
          range: (u, lo, hi) => {
            if (lo === null || hi === null) return [0, 1];
            if (zero) return [Math.min(0, lo), hi > 0 ? hi * 1.1 : 1];
            const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
            return [lo - pad, hi + pad];
          },
        },
      },
      series: [
        { label: "Time", value: (u, v) => (v === null ? "—" : formatTime(v, offset)) },
        ...this.series.map((s) => ({
          label: s.label, stroke: s.color, width: 1.5, spanGaps: false,
          points: { show: points <= 60 },
          value: (u, v) => (v === null || v === undefined ? "—" : `${fmtValue(v)}${suffix}`),
        })),
      ],
      axes: [
        {
          space: 60,
          values: (u, splits, axisIdx, space, incr) => {
            const labels = splits.map((s) => axisLabel(s, offset, incr));
            root.dataset.xTicks = JSON.stringify(splits.map((s, i) => [s, labels[i]]));
            return labels;
          },
        },
        { size: 60, label: unit.name || undefined, values: (u, vals) => vals.map((v) => fmtTick(v)) },
      ],
    }, [X, ...Y], this.plot);
  }
}

/** Redraw charts when the window changes size. */
export function resizeWith(charts) {
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => charts.forEach((c) => c.resize()), 100);
  });
}

/** Fill a <select> with the zones (as text, never markup) and select `offset`. */
export function fillZones(select, zones, offset) {
  select.replaceChildren(...zones.map((z) => new Option(zoneLabel(z), String(z.offset))));
  select.value = String(offset);
}

/** Mark the button of `range` in a group of `[data-range]` buttons. */
export function markRange(group, range) {
  for (const b of group.querySelectorAll("button[data-range]")) {
    const on = b.dataset.range === range;
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", String(on));
  }
}

/** Read a number-or-null field. */
export function num(v) {
  return v === null || v === undefined || typeof v !== "number" || !Number.isFinite(v) ? null : v;
}

// -- preferences ----------------------------------------------------------------------------

const TZ_KEY = "hashfleet.charts.tz"; // one timezone choice for every page

/** Saved choices: localStorage under `key`, overridden by the URL hash (a shared link). */
export function loadPrefs(key) {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(key) || "{}") || {};
    const tz = localStorage.getItem(TZ_KEY);
    if (tz !== null) saved.tz = Number(tz);
  } catch { /* storage disabled or garbage: defaults */ }
  const prefs = { ...saved };
  for (const [k, v] of new URLSearchParams(location.hash.slice(1))) prefs[k] = k === "tz" ? Number(v) : v;
  return prefs;
}

/** Keep the choices in localStorage and in the URL hash (without a history entry). */
export function savePrefs(key, prefs) {
  const { tz, ...rest } = prefs;
  try {
    localStorage.setItem(key, JSON.stringify(rest));
    localStorage.setItem(TZ_KEY, String(tz));
  } catch { /* storage disabled: the hash still has them */ }
  const hash = new URLSearchParams({ ...rest, tz: String(tz) }).toString();
  history.replaceState(null, "", `${location.pathname}${location.search}#${hash}`);
}

// The controls every history panel has: range buttons, a timezone menu, and the refresh
// of live ranges (1h, 24h) every minute while the tab is visible.
export function bindControls(tzSel, rangeGroup, choose, currentRange, load) {
  tzSel.addEventListener("change", () => choose({ tz: Number(tzSel.value) }));
  rangeGroup.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-range]");
    if (b) choose({ range: b.dataset.range });
  });
  setInterval(() => {
    if (RANGES[currentRange()].refresh && !document.hidden) load();
  }, REFRESH_MS);
}
