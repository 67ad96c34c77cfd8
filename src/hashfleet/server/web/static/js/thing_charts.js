// The thing page's history: this thing's hashrate, power and temperature from its
// thing-5m log (5-minute entries for 1 h and 24 h, merged per hour for 7 d and per 3 hours
// for 30 d). The live chart above it (thing.js) is separate.
import {
  DEFAULT_RANGE, HistoryChart, RANGES, bindControls, call, fillZones, loadPrefs, loadTimezones,
  markRange, num, offsetLabel, resizeWith, savePrefs, thingHistory,
} from "./charts.js";

const STORE = "hashfleet.charts.thing";
// Miners and rigs keep hashrate_mhs, power_w, temp_max; sensors temperature_c; containers
// supply_temp_c and power_w. A field the type does not keep comes back null.
const FIELDS = ["hashrate_mhs", "power_w", "temp_max", "temperature_c", "supply_temp_c"];

const section = document.getElementById("thing-history");
const thingId = section.dataset.thingId;
const tzSel = document.getElementById("th-tz");
const rangeGroup = document.getElementById("th-range");
const statusEl = document.getElementById("th-status");

const charts = {
  hashrate: {
    kind: "hashrate", series: [{ label: "Hashrate", color: "#1f6feb" }],
    values: [(r) => { const m = num(r.hashrate_mhs); return m === null ? null : m * 1e6; }],
  },
  power: { kind: "power", series: [{ label: "Power", color: "#8250df" }], values: [(r) => num(r.power_w)] },
  temp: {
    kind: "temp", zero: false, series: [{ label: "Temperature", color: "#d1242f" }],
    values: [(r) => num(r.temp_max) ?? num(r.temperature_c) ?? num(r.supply_temp_c)],
  },
};
for (const [name, def] of Object.entries(charts)) {
  def.chart = new HistoryChart(document.getElementById(`th-chart-${name}`), def);
}
resizeWith(Object.values(charts).map((d) => d.chart));

let zones = [{ code: "UTC", offset: 0 }];
let prefs = { range: DEFAULT_RANGE, tz: 0 };
let thingType = null;
let last = null;
let seq = 0;

function checked(p) {
  return {
    range: p.range in RANGES ? p.range : DEFAULT_RANGE,
    tz: zones.some((z) => z.offset === p.tz) ? p.tz : zones[0].offset,
  };
}

function showControls() {
  tzSel.value = String(prefs.tz);
  markRange(rangeGroup, prefs.range);
  section.dataset.range = prefs.range;
  section.dataset.tz = String(prefs.tz);
}

function render() {
  if (!last) return;
  const { rows, step, from, to } = last;
  const xs = rows.map((r) => r.ts);
  for (const def of Object.values(charts)) {
    def.chart.draw({ xs, ys: def.values.map((f) => rows.map(f)), from, to, step, offset: prefs.tz });
  }
  statusEl.textContent = `${rows.length} entries · ${offsetLabel(prefs.tz)}`;
  section.dataset.loaded = `${prefs.range}|${prefs.tz}`;
}

async function load() {
  const my = ++seq;
  const want = { ...prefs };
  for (const def of Object.values(charts)) def.chart.loading();
  try {
    if (thingType === null) thingType = (await call(`/api/things/${encodeURIComponent(thingId)}`)).type;
    const h = await thingHistory(thingType, thingId, want.range, FIELDS);
    if (my !== seq) return;
    last = h;
    render();
  } catch (err) {
    if (my !== seq) return;
    last = null;
    const untracked = String(err.message || err).startsWith("ERR_TYPE_AGGR_INVALID");
    for (const def of Object.values(charts)) {
      if (untracked) def.chart.empty("No history is kept for this type of thing.");
      else def.chart.error(err);
    }
    statusEl.textContent = "";
    section.dataset.loaded = `${want.range}|${want.tz}`;
  }
}

function choose(change) {
  const before = prefs;
  prefs = checked({ ...prefs, ...change });
  savePrefs(STORE, prefs);
  showControls();
  if (prefs.range !== before.range || !last) load();
  else render();
}

bindControls(tzSel, rangeGroup, choose, () => prefs.range, load);

async function start() {
  zones = await loadTimezones();
  prefs = checked({ ...prefs, ...loadPrefs(STORE) });
  fillZones(tzSel, zones, prefs.tz);
  showControls();
  load();
}

start();
