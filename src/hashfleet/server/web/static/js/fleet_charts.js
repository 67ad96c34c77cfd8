// The fleet page's history: hashrate, power, efficiency and alive things of one thing type
// over 1 h / 24 h / 7 d / 30 d, from the stat logs (one tailLog call feeds all four charts).
// Type, range and timezone are kept in localStorage and the URL hash; 1 h and 24 h refresh
// every minute.
import {
  DEFAULT_RANGE, HistoryChart, RANGES, bindControls, fillZones, loadPrefs, loadTimezones,
  markRange, num, offsetLabel, resizeWith, savePrefs, statHistory,
} from "./charts.js";

const STORE = "hashfleet.charts.fleet";
// Miners and rigs keep hashrate_mhs_5m_sum and efficiency_w_ths; pool accounts
// hashrate_mhs_sum; power meters and containers power_w_sum. Missing fields come back null.
const FIELDS = ["hashrate_mhs_5m_sum", "hashrate_mhs_sum", "power_w_sum", "efficiency_w_ths",
  "online_cnt", "things_cnt"];

const section = document.getElementById("fleet-charts");
const typeSel = document.getElementById("charts-type");
const tzSel = document.getElementById("charts-tz");
const rangeGroup = document.getElementById("charts-range");
const statusEl = document.getElementById("charts-status");

const hashOf = (r) => {
  const mhs = num(r.hashrate_mhs_5m_sum) ?? num(r.hashrate_mhs_sum);
  return mhs === null ? null : mhs * 1e6; // H/s
};
// W per TH/s is J/TH: the stat field when the type keeps it, else power over hashrate.
const effOf = (r) => {
  const eff = num(r.efficiency_w_ths);
  if (eff !== null) return eff;
  const p = num(r.power_w_sum), h = hashOf(r);
  return p !== null && h ? p / (h / 1e12) : null;
};

const charts = {
  hashrate: { kind: "hashrate", series: [{ label: "Hashrate", color: "#1f6feb" }], values: [hashOf] },
  power: { kind: "power", series: [{ label: "Power", color: "#8250df" }], values: [(r) => num(r.power_w_sum)] },
  efficiency: { kind: "efficiency", zero: false, series: [{ label: "Efficiency", color: "#bf8700" }], values: [effOf] },
  alive: {
    kind: "count",
    series: [{ label: "Online", color: "#1a7f37" }, { label: "Things", color: "#8c959f" }],
    values: [(r) => num(r.online_cnt), (r) => num(r.things_cnt)],
  },
};
for (const [name, def] of Object.entries(charts)) {
  def.chart = new HistoryChart(document.getElementById(`chart-${name}`), def);
}
resizeWith(Object.values(charts).map((d) => d.chart));

const types = [...typeSel.options].map((o) => o.value);
let zones = [{ code: "UTC", offset: 0 }];
let prefs = { type: "miner", range: DEFAULT_RANGE, tz: 0 };
let last = null; // the last history loaded: a timezone change only redraws it
let seq = 0;

function checked(p) {
  return {
    type: types.includes(p.type) ? p.type : types[0],
    range: p.range in RANGES ? p.range : DEFAULT_RANGE,
    tz: zones.some((z) => z.offset === p.tz) ? p.tz : zones[0].offset,
  };
}

function showControls() {
  typeSel.value = prefs.type;
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
  section.dataset.loaded = `${prefs.type}|${prefs.range}|${prefs.tz}`;
}

async function load() {
  const my = ++seq;
  const want = { ...prefs };
  for (const def of Object.values(charts)) def.chart.loading();
  statusEl.textContent = "Loading…";
  try {
    const h = await statHistory(want.type, want.range, FIELDS);
    if (my !== seq) return; // a newer choice was made meanwhile
    last = h;
    render();
    statusEl.textContent = `${h.rows.length} entries · ${offsetLabel(prefs.tz)}`;
  } catch (err) {
    if (my !== seq) return;
    last = null;
    for (const def of Object.values(charts)) def.chart.error(err);
    statusEl.textContent = "";
    section.dataset.loaded = `${want.type}|${want.range}|${want.tz}`;
  }
}

function choose(change) {
  const before = prefs;
  prefs = checked({ ...prefs, ...change });
  savePrefs(STORE, prefs);
  showControls();
  if (prefs.type !== before.type || prefs.range !== before.range || !last) load();
  else { render(); statusEl.textContent = `${last.rows.length} entries · ${offsetLabel(prefs.tz)}`; }
}

typeSel.addEventListener("change", () => choose({ type: typeSel.value }));
bindControls(tzSel, rangeGroup, choose, () => prefs.range, load);
window.addEventListener("hashchange", () => {
  const next = checked({ ...prefs, ...loadPrefs(STORE) });
  if (next.type !== prefs.type || next.range !== prefs.range || next.tz !== prefs.tz) choose(next);
});

async function start() {
  zones = await loadTimezones();
  prefs = checked({ ...prefs, ...loadPrefs(STORE) });
  fillZones(tzSel, zones, prefs.tz);
  showControls();
  load();
}

start();
