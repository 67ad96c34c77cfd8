// The alerts page. Active: open alerts, live from the "alerts" channel (snapshot, then
// diffs), most severe first, then oldest first. History: closed alerts from
// GET /api/alerts?state=closed, newest first, paged. Both tabs share the filters, which live
// in the URL query (tab, severity, type, q, since, until, page) so a link shows the same view.
// Alert names and descriptions carry device-supplied strings: everything goes through esc().
import { Live, rpc } from "./live.js";
import { esc } from "./format.js";
import { setOpenAlerts } from "./alerts_badge.js";

const SEVS = ["critical", "high", "medium", "low"];
const RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const PAGE = 50;
const SEARCH_MAX = 1000; // the API's largest page: text search in History covers this many
const FLASH_MS = 3000;

const $ = (id) => document.getElementById(id);
const els = {
  tabs: document.querySelectorAll(".al-tab"),
  form: $("al-filter"),
  sevBoxes: document.querySelectorAll("#f-severity input[name=severity]"),
  type: $("f-type"),
  q: $("f-q"),
  since: $("f-since"),
  until: $("f-until"),
  histOnly: document.querySelectorAll(".al-hist"),
  msg: $("al-msg"),
  activePanel: $("panel-active"),
  activeRows: $("active-rows"),
  activeEmpty: $("active-empty"),
  activeCount: $("active-count"),
  historyPanel: $("panel-history"),
  historyRows: $("history-rows"),
  historyEmpty: $("history-empty"),
  prev: $("h-prev"),
  next: $("h-next"),
  range: $("h-range"),
};

// -- filter state <-> URL -----------------------------------------------------------------

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const state = { tab: "active", sevs: new Set(SEVS), type: "", q: "", since: "", until: "", page: 1 };

function readUrl() {
  const p = new URLSearchParams(location.search);
  state.tab = p.get("tab") === "history" ? "history" : "active";
  state.sevs = p.has("severity")
    ? new Set(p.get("severity").split(",").filter((s) => SEVS.includes(s)))
    : new Set(SEVS);
  const types = [...els.type.options].map((o) => o.value);
  state.type = types.includes(p.get("type")) ? p.get("type") : "";
  state.q = p.get("q") || "";
  state.since = DATE_RE.test(p.get("since") || "") ? p.get("since") : "";
  state.until = DATE_RE.test(p.get("until") || "") ? p.get("until") : "";
  state.page = Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
}

function writeUrl() {
  const p = new URLSearchParams();
  if (state.tab !== "active") p.set("tab", state.tab);
  if (state.sevs.size !== SEVS.length) p.set("severity", SEVS.filter((s) => state.sevs.has(s)).join(","));
  if (state.type) p.set("type", state.type);
  if (state.q) p.set("q", state.q);
  if (state.since) p.set("since", state.since);
  if (state.until) p.set("until", state.until);
  if (state.tab === "history" && state.page > 1) p.set("page", String(state.page));
  const qs = p.toString();
  window.history.replaceState(null, "", qs ? `${location.pathname}?${qs}` : location.pathname);
}

function showState() {
  for (const box of els.sevBoxes) box.checked = state.sevs.has(box.value);
  els.type.value = state.type;
  els.q.value = state.q;
  els.since.value = state.since;
  els.until.value = state.until;
  const hist = state.tab === "history";
  for (const t of els.tabs) t.setAttribute("aria-selected", String(t.dataset.tab === state.tab));
  for (const el of els.histOnly) el.hidden = !hist;
  els.activePanel.hidden = hist;
  els.historyPanel.hidden = !hist;
}

// -- formatting -----------------------------------------------------------------------------

function sevBadge(s) {
  const cls = SEVS.includes(s) ? s : "unknown";
  return `<span class="sev sev-${cls}">${esc(s)}</span>`;
}

function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function age(ts) {
  const ms = Date.now() - ts;
  return ms < 60000 ? "just now" : `${span(ms).replace(/ \d+s$/, "")} ago`;
}

const when = (ts) => (ts ? new Date(ts).toLocaleString() : "—");

// -- things (code, name, type: the alerts carry only the thing id) -------------------------

const things = new Map(); // id -> {code, type, name}
let thingsLoading = false;
let thingsLoadedAt = 0;

async function loadThings() {
  if (thingsLoading) return;
  thingsLoading = true;
  try {
    const found = await rpc("listThings", {
      fields: { id: 1, code: 1, type: 1, "info.name": 1 }, limit: 100000,
    });
    things.clear();
    for (const t of found) things.set(t.id, { code: t.code, type: t.type, name: t.info?.name });
  } catch (err) {
    console.warn("listThings failed", err);
  } finally {
    thingsLoading = false;
    thingsLoadedAt = Date.now();
  }
  renderActive();
  if (state.tab === "history") renderHistory();
}

// An alert of a thing registered after the last load: load again (at most every 10 s).
function ensureThings() {
  if (thingsLoading || Date.now() - thingsLoadedAt < 10000) return;
  for (const a of open.values()) if (!things.has(a.thing_id)) { loadThings(); return; }
}

function thingCell(id) {
  const t = things.get(id);
  const label = t?.code || id;
  const name = t?.name && t.name !== label ? ` <span class="muted">${esc(t.name)}</span>` : "";
  return `<a href="/things/${encodeURIComponent(id)}" title="${esc(id)}">${esc(label)}</a>${name}`;
}

function textMatch(a) {
  if (!state.q) return true;
  const t = things.get(a.thing_id) || {};
  const hay = [a.thing_id, t.code, t.name, a.name, a.description].join("\n").toLowerCase();
  return hay.includes(state.q.toLowerCase());
}

function typeMatch(a) {
  return !state.type || things.get(a.thing_id)?.type === state.type;
}

// -- Active ---------------------------------------------------------------------------------

const open = new Map(); // id -> alert
const rowEls = new Map(); // id -> <tr>, kept so a flash survives re-renders
const flashing = new Set();
let gotSnapshot = false;

function flash(id) {
  flashing.add(id);
  setTimeout(() => {
    flashing.delete(id);
    rowEls.get(id)?.classList.remove("al-flash");
  }, FLASH_MS);
}

function bySeverityThenAge(a, b) {
  return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || a.created_at - b.created_at ||
    (a.id < b.id ? -1 : 1);
}

function activeRow(a) {
  return `<td>${sevBadge(a.severity)}</td><td>${thingCell(a.thing_id)}</td>` +
    `<td>${esc(a.name)}</td><td class="al-desc">${esc(a.description)}</td>` +
    `<td class="al-since" data-ts="${Number(a.created_at)}" title="${esc(when(a.created_at))}">` +
    `${esc(age(a.created_at))}</td>`;
}

function renderActive() {
  const list = [...open.values()]
    .filter((a) => state.sevs.has(a.severity) && typeMatch(a) && textMatch(a))
    .sort(bySeverityThenAge);
  const trs = list.map((a) => {
    let tr = rowEls.get(a.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.id = a.id;
      rowEls.set(a.id, tr);
    }
    const t = things.get(a.thing_id);
    const key = [a.updated_at, a.severity, a.name, a.description, t?.code, t?.name].join("\u0000");
    if (tr.dataset.key !== key) {
      tr.innerHTML = activeRow(a);
      tr.dataset.key = key;
    }
    tr.dataset.severity = SEVS.includes(a.severity) ? a.severity : "unknown";
    tr.classList.toggle("al-flash", flashing.has(a.id));
    return tr;
  });
  for (const id of rowEls.keys()) if (!open.has(id)) rowEls.delete(id);
  els.activeRows.replaceChildren(...trs);
  els.activeEmpty.hidden = !gotSnapshot || trs.length > 0;
  els.activeCount.textContent = gotSnapshot ? `(${open.size})` : "";
  if (state.tab === "active") {
    els.msg.textContent = list.length === open.size ? "" : `${list.length} of ${open.size} shown`;
  }
}

function refreshAges() {
  for (const td of els.activeRows.querySelectorAll(".al-since")) {
    td.textContent = age(Number(td.dataset.ts));
  }
}

function changed() {
  setOpenAlerts(open.values());
  ensureThings();
  renderActive();
}

function onSnapshot(data) {
  const known = new Set(open.keys());
  open.clear();
  for (const a of data.alerts || []) {
    open.set(a.id, a);
    if (gotSnapshot && !known.has(a.id)) flash(a.id); // reconnected: new since then
  }
  gotSnapshot = true;
  changed();
}

function onDiff(diff) {
  for (const a of diff.upsert || []) {
    if (!open.has(a.id)) flash(a.id);
    open.set(a.id, a);
  }
  const closed = (diff.remove || []).filter((id) => open.delete(id));
  changed();
  // Closed alerts are history now: show them if the newest history page is in view.
  if (closed.length && state.tab === "history" && state.page === 1) scheduleHistory(500);
}

// -- History --------------------------------------------------------------------------------

let historySeq = 0;
let historyRows = [];
let historyTimer = null;

function dayStart(v) {
  const t = new Date(`${v}T00:00:00`).getTime();
  return Number.isFinite(t) && t >= 0 ? t : null;
}

function dayEnd(v) {
  const d = new Date(`${v}T00:00:00`);
  d.setDate(d.getDate() + 1);
  const t = d.getTime() - 1;
  return Number.isFinite(t) && t >= 0 ? t : null;
}

function scheduleHistory(ms) {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, ms);
}

async function loadHistory() {
  const seq = ++historySeq;
  if (state.sevs.size === 0) {
    historyRows = [];
    showPage(0, "");
    return;
  }
  const p = new URLSearchParams({ state: "closed" });
  if (state.sevs.size !== SEVS.length) p.set("severity", SEVS.filter((s) => state.sevs.has(s)).join(","));
  if (state.type) p.set("type", state.type);
  const since = state.since ? dayStart(state.since) : null;
  const until = state.until ? dayEnd(state.until) : null;
  if (since !== null) p.set("since", String(since));
  if (until !== null) p.set("until", String(until));
  // The API has no text search: with one, take the newest SEARCH_MAX and page here.
  const searching = Boolean(state.q);
  p.set("offset", String(searching ? 0 : (state.page - 1) * PAGE));
  p.set("limit", String(searching ? SEARCH_MAX : PAGE));
  let body;
  try {
    const resp = await fetch(`/api/alerts?${p}`, { headers: { Accept: "application/json" } });
    if (resp.status === 401) { location.href = "/login"; return; }
    body = await resp.json();
    if (!resp.ok) throw new Error(`${body.error}: ${body.message}`);
  } catch (err) {
    if (seq === historySeq) els.msg.textContent = String(err.message || err);
    return;
  }
  if (seq !== historySeq || state.tab !== "history") return;
  let rows = body.alerts;
  let total = body.total;
  let note = "";
  if (searching) {
    const matched = rows.filter(textMatch);
    total = matched.length;
    rows = matched.slice((state.page - 1) * PAGE, state.page * PAGE);
    if (body.total > SEARCH_MAX) note = `search covers the newest ${SEARCH_MAX} of ${body.total}`;
  }
  if (rows.length === 0 && state.page > 1 && total > 0) {
    state.page = Math.ceil(total / PAGE); // past the end (fewer matches now): last page
    writeUrl();
    loadHistory();
    return;
  }
  historyRows = rows;
  showPage(total, note);
}

function historyRow(a) {
  const dur = a.closed_at ? span(a.closed_at - a.created_at) : "—";
  return `<tr data-id="${esc(a.id)}" data-severity="${SEVS.includes(a.severity) ? a.severity : "unknown"}">` +
    `<td>${sevBadge(a.severity)}</td><td>${thingCell(a.thing_id)}</td><td>${esc(a.name)}</td>` +
    `<td class="al-desc">${esc(a.description)}</td><td>${esc(when(a.created_at))}</td>` +
    `<td>${esc(when(a.closed_at))}</td><td class="num al-dur">${esc(dur)}</td></tr>`;
}

function renderHistory() {
  els.historyRows.innerHTML = historyRows.map(historyRow).join("");
}

function showPage(total, note) {
  renderHistory();
  const from = total ? (state.page - 1) * PAGE + 1 : 0;
  const to = Math.min(total, state.page * PAGE);
  els.range.textContent = total ? `${from}–${to} of ${total}` : "";
  els.prev.disabled = state.page <= 1;
  els.next.disabled = state.page * PAGE >= total;
  els.historyEmpty.hidden = total > 0;
  els.msg.textContent = note;
}

// -- events ---------------------------------------------------------------------------------

function apply() {
  writeUrl();
  showState();
  renderActive();
  if (state.tab === "history") loadHistory();
}

function filtersChanged() {
  state.page = 1;
  apply();
}

for (const box of els.sevBoxes) {
  box.addEventListener("change", () => {
    if (box.checked) state.sevs.add(box.value);
    else state.sevs.delete(box.value);
    filtersChanged();
  });
}
els.type.addEventListener("change", () => { state.type = els.type.value; filtersChanged(); });
els.since.addEventListener("change", () => { state.since = els.since.value; filtersChanged(); });
els.until.addEventListener("change", () => { state.until = els.until.value; filtersChanged(); });
els.q.addEventListener("input", () => {
  state.q = els.q.value.trim();
  state.page = 1;
  writeUrl();
  renderActive();
  if (state.tab === "history") scheduleHistory(250);
});
els.form.addEventListener("submit", (ev) => ev.preventDefault());
$("f-clear").addEventListener("click", () => {
  Object.assign(state, { sevs: new Set(SEVS), type: "", q: "", since: "", until: "", page: 1 });
  apply();
});
for (const tab of els.tabs) {
  tab.addEventListener("click", () => {
    if (state.tab === tab.dataset.tab) return;
    state.tab = tab.dataset.tab;
    state.page = 1;
    els.msg.textContent = "";
    apply();
  });
}
els.prev.addEventListener("click", () => { state.page = Math.max(1, state.page - 1); apply(); });
els.next.addEventListener("click", () => { state.page += 1; apply(); });

readUrl();
showState();
if (state.tab === "history") loadHistory();
loadThings();
setInterval(refreshAges, 30000);

const live = new Live();
live.subscribe("alerts", onSnapshot, onDiff);
