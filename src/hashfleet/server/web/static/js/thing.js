// The thing page: live values, hashboards, fans, pools and a live hashrate/temperature chart.
import { Live } from "./live.js";
import { esc, hashrate, statusBadge, temp, watts } from "./format.js";

const root = document.getElementById("detail");
const thingId = root.dataset.thingId;
const MAX_POINTS = 2000;
const xs = [], hs = [], ts = [];
let chart = null;
let lastTs = 0;

function makeChart() {
  const el = document.getElementById("chart");
  chart = new uPlot({
    width: Math.min(1100, el.clientWidth || 900), height: 260,
    series: [{}, { label: "Hashrate (TH/s)", stroke: "#1f6feb", scale: "h" },
                 { label: "Max temp (°C)", stroke: "#d1242f", scale: "t" }],
    axes: [{}, { scale: "h", label: "TH/s" }, { scale: "t", side: 1, label: "°C", grid: { show: false } }],
    scales: { x: { time: true } },
  }, [xs, hs, ts], el);
}

function addPoint(t, stats) {
  if (!t || t <= lastTs) return;
  lastTs = t;
  xs.push(t / 1000);
  hs.push(stats && stats.hashrate != null ? stats.hashrate / 1e12 : null);
  ts.push(stats && stats.temp_max != null ? stats.temp_max : null);
  if (xs.length > MAX_POINTS) { xs.shift(); hs.shift(); ts.shift(); }
  if (chart) chart.setData([xs, hs, ts]);
}

function table(id, head, body) {
  document.getElementById(id).innerHTML =
    `<tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>` +
    body.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
}

function show(doc) {
  if (!doc) { document.getElementById("d-status").innerHTML = statusBadge("offline"); return; }
  const last = doc.last || {};
  const snap = last.snap || {};
  const st = snap.stats || {};
  const cfg = snap.config || {};
  document.getElementById("d-code").textContent = doc.code;
  document.getElementById("d-status").innerHTML = statusBadge(st.status);
  const kv = [
    ["Model", esc(cfg.model || doc.type)], ["Address", esc((doc.opts || {}).address)],
    ["Hashrate", hashrate(st.hashrate)], ["Nominal", hashrate(st.hashrate_nominal)],
    ["Max temp", temp(st.temp_max)], ["Power", watts(st.power_w)],
    ["Algorithm", esc(st.algorithm || "—")], ["Uptime", st.uptime_s != null ? `${Math.floor(st.uptime_s / 60)} min` : "—"],
    ["Firmware", esc(cfg.firmware || "—")], ["Error", esc(last.err || (st.errors || []).join(", ") || "none")],
  ];
  document.getElementById("d-values").innerHTML =
    kv.map(([k, v]) => `<div data-field="${esc(k)}"><b>${esc(k)}</b>${v}</div>`).join("");
  table("d-boards", ["#", "Hashrate", "Board", "Chip", "Chips"], (st.hashboards || []).map((b) =>
    [esc(b.index), hashrate(b.hashrate), temp(b.temp_board), temp(b.temp_chip), `${esc(b.chips ?? "—")}/${esc(b.chips_expected ?? "—")}`]));
  table("d-fans", ["#", "RPM"], (st.fans || []).map((f) => [esc(f.index), esc(f.rpm ?? "—")]));
  table("d-pools", ["URL", "User", "Acc/Rej", "State"], (st.pools || []).map((p) =>
    [esc(p.url), esc(p.user), `${esc(p.accepted)}/${esc(p.rejected)}`, p.active ? "active" : p.alive ? "alive" : "dead"]));
  addPoint(last.ts, st);
}

async function loadHistory() {
  const resp = await fetch(`/api/things/${encodeURIComponent(thingId)}/history?minutes=60`);
  if (!resp.ok) return;
  for (const ev of await resp.json()) addPoint(ev.ts, (ev.snap || {}).stats);
}

makeChart();
loadHistory().then(() => {
  const live = new Live();
  live.subscribe(`thing:${thingId}`, show, show);
});
