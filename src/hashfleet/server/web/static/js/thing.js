// The thing page: live values, boards or GPUs, fans, pools, the sections of farm devices
// (meter, sensor, container, pool account, Chia, rig host) and a live chart.
import { Live } from "./live.js";
import { esc, hashrate, statusBadge, temp, watts } from "./format.js";
import { setupNotes } from "./thing_notes.js";
import { trackOpenAlerts } from "./alerts_badge.js";

const root = document.getElementById("detail");
const thingId = root.dataset.thingId;
const MAX_POINTS = 2000;
const xs = [], hs = [], ts = [], ps = [];
let chart = null;
let lastTs = 0;

function makeChart() {
  const el = document.getElementById("chart");
  chart = new uPlot({
    width: Math.min(1100, el.clientWidth || 900), height: 260,
    series: [{}, { label: "Hashrate", stroke: "#1f6feb", scale: "h", value: (u, v) => hashrate(v) },
                 { label: "Max temp (°C)", stroke: "#d1242f", scale: "t" },
                 { label: "Power", stroke: "#8250df", scale: "p", value: (u, v) => watts(v) }],
    axes: [{}, { scale: "h", size: 80, values: (u, vals) => vals.map((v) => hashrate(v)) },
           { scale: "t", side: 1, label: "°C", grid: { show: false } },
           { scale: "p", side: 1, size: 70, grid: { show: false }, values: (u, vals) => vals.map((v) => watts(v)) }],
    scales: { x: { time: true } },
  }, [xs, hs, ts, ps], el);
}

function addPoint(t, stats) {
  if (!t || t <= lastTs) return;
  lastTs = t;
  xs.push(t / 1000);
  hs.push(stats && stats.hashrate != null ? stats.hashrate : null);
  ts.push(stats && stats.temp_max != null ? stats.temp_max : null);
  ps.push(stats && stats.power_w != null ? stats.power_w : null);
  if (xs.length > MAX_POINTS) { xs.shift(); hs.shift(); ts.shift(); ps.shift(); }
  if (chart) chart.setData([xs, hs, ts, ps]);
}

function rowsHtml(head, body) {
  return `<tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>` +
    body.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
}

function table(id, head, body) {
  document.getElementById(id).innerHTML = rowsHtml(head, body);
}

const num = (v, unit = "", digits = 1) =>
  v === null || v === undefined ? "—" : `${esc(Number(v).toFixed(digits))}${unit}`;
const yesNo = (v) => (v === null || v === undefined ? "—" : v ? "yes" : "no");
const GiB = 1024 ** 3, TiB = 1024 ** 4, PiB = 1024 ** 5, EiB = 1024 ** 6;
function bytes(b) {
  if (b === null || b === undefined) return "—";
  for (const [f, u] of [[EiB, "EiB"], [PiB, "PiB"], [TiB, "TiB"], [GiB, "GiB"]]) if (b >= f) return `${(b / f).toFixed(2)} ${u}`;
  return `${esc(b)} B`;
}

// One titled block of key/values, and optionally a table under it (escaped by callers).
function section(title, kv, head, body) {
  const pairs = kv.filter(([, v]) => v !== "—");
  if (!pairs.length && !(body && body.length)) return "";
  const dl = pairs.map(([k, v]) => `<div><b>${esc(k)}</b>${v}</div>`).join("");
  const tbl = body && body.length ? `<table class="small">${rowsHtml(head, body)}</table>` : "";
  return `<div class="section" data-section="${esc(title)}"><h2>${esc(title)}</h2><div class="kv">${dl}</div>${tbl}</div>`;
}

function sections(st) {
  const out = [];
  if ((st.streams || []).length > 1) {
    out.push(section("Programs", [], ["Software", "Algorithm", "Coin", "Hashrate", "Power"],
      st.streams.map((x) => [esc(x.software), esc(x.algorithm || "—"), esc(x.coin || "—"), hashrate(x.hashrate), watts(x.power_w)])));
  }
  const h = st.host;
  if (h) {
    out.push(section("Host", [["CPU temp", temp(h.cpu_temp_c)], ["Load (1 min)", num(h.load_1m, "", 2)]],
      ["GPU", "Name", "Temp", "Mem temp", "Fan", "Power", "Core", "Mem", "Use"],
      (h.gpus || []).map((g) => [esc(g.index), esc(g.name || "—"), temp(g.temp_c), temp(g.temp_mem_c), num(g.fan_pct, " %", 0),
        watts(g.power_w), num(g.clock_core_mhz, " MHz", 0), num(g.clock_mem_mhz, " MHz", 0), num(g.utilization_pct, " %", 0)])));
  }
  const m = st.meter;
  if (m) {
    out.push(section("Power meter", [["Power", watts(m.power_w)], ["Energy", num(m.energy_kwh, " kWh")], ["Frequency", num(m.frequency_hz, " Hz", 2)]],
      ["Phase", "Voltage", "Current", "Power", "PF", "Energy"],
      (m.phases || []).map((x) => [`L${esc(x.index + 1)}`, num(x.voltage_v, " V"), num(x.current_a, " A"), watts(x.power_w), num(x.power_factor, "", 2), num(x.energy_kwh, " kWh")])));
  }
  const e = st.environment;
  if (e) out.push(section("Environment", [["Temperature", num(e.temperature_c, " °C")], ["Humidity", num(e.humidity_pct, " %")], ["Dew point", num(e.dew_point_c, " °C")]]));
  const c = st.cooling;
  if (c) {
    const units = [...(c.pumps || []).map((x) => ["pump", x]), ...(c.fans || []).map((x) => ["fan", x])];
    out.push(section("Cooling", [["Supply", num(c.supply_temp_c, " °C")], ["Return", num(c.return_temp_c, " °C")], ["Flow", num(c.flow_lpm, " L/min")],
      ["Pressure", num(c.pressure_bar, " bar", 2)], ["Cooling on", yesNo(c.cooling_on)], ["Set point", num(c.setpoint_c, " °C")],
      ["Alarms", esc((c.alarms || []).join(", ") || "none")]],
      ["Unit", "#", "Running", "Speed", "Fault"],
      units.map(([kind, x]) => [kind, esc(x.index), yesNo(x.running), num(x.speed_pct, " %", 0), x.fault ? "FAULT" : "ok"])));
  }
  const pa = st.pool_account;
  if (pa) {
    out.push(section("Pool account", [["Pool", esc(pa.pool || "—")], ["Account", esc(pa.account || "—")], ["Hashrate", hashrate(pa.hashrate)],
      ["Hashrate 24 h", hashrate(pa.hashrate_24h)], ["Workers online", esc(pa.workers_online ?? "—")], ["Workers offline", esc(pa.workers_offline ?? "—")],
      ["Balance", num(pa.balance, ` ${esc(pa.currency || "")}`, 8)], ["Earnings 24 h", num(pa.earnings_24h, ` ${esc(pa.currency || "")}`, 8)]]));
  }
  const ch = st.chia;
  if (ch) {
    out.push(section("Chia", [["Synced", yesNo(ch.synced)], ["Height", esc(ch.height ?? "—")], ["Plots", esc(ch.plots ?? "—")],
      ["Total space", bytes(ch.total_space_bytes)], ["Netspace", bytes(ch.netspace_bytes)], ["Proofs found", esc(ch.proofs_found ?? "—")],
      ["Signage points", esc(ch.signage_points ?? "—")], ["Missed challenges", esc(ch.missed_challenges ?? "—")], ["Harvesters", esc(ch.harvesters ?? "—")],
      ["Farming", esc(ch.farming_status || "—")]]));
  }
  document.getElementById("d-sections").innerHTML = out.join("");
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
  if (st.work_mode) kv.push(["Work mode", esc(st.work_mode)]);
  if (st.power_limit_w != null) kv.push(["Power limit", watts(st.power_limit_w)]);
  if (st.led != null) kv.push(["Fault light", st.led ? "on" : "off"]);
  document.getElementById("d-values").innerHTML =
    kv.map(([k, v]) => `<div data-field="${esc(k)}"><b>${esc(k)}</b>${v}</div>`).join("");
  const boards = st.hashboards || [];
  const devices = boards.some((b) => b.kind === "gpu" || b.kind === "cpu");
  document.getElementById("d-boards-title").textContent = devices ? "Devices" : "Hashboards";
  if (devices) {
    table("d-boards", ["#", "Device", "Software", "Hashrate", "Temp", "Mem", "Power", "Fan", "Core/Mem MHz", "A/R"], boards.map((b) =>
      [esc(b.index), esc(b.name || b.kind || "—"), esc(b.software || "—"), hashrate(b.hashrate), temp(b.temp_chip), temp(b.temp_mem),
       watts(b.power_w), num(b.fan_pct, " %", 0), `${num(b.clock_core_mhz, "", 0)}/${num(b.clock_mem_mhz, "", 0)}`,
       `${esc(b.accepted ?? "—")}/${esc(b.rejected ?? "—")}`]));
  } else {
    table("d-boards", ["#", "Hashrate", "Board", "Chip", "Chips"], boards.map((b) =>
      [esc(b.index), hashrate(b.hashrate), temp(b.temp_board), temp(b.temp_chip), `${esc(b.chips ?? "—")}/${esc(b.chips_expected ?? "—")}`]));
  }
  sections(st);
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
const live = new Live();
setupNotes(live); // alerts, comments and change log need not wait for the live chart
trackOpenAlerts(live); // the nav's count, on the same socket
loadHistory().then(() => {
  live.subscribe(`thing:${thingId}`, show, show);
});
