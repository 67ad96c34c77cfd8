// The fleet page: aggregate tiles and a virtualised live table (only visible rows are in
// the DOM, so 10,000 things stay responsive), sortable, filtered by a Mongo-style query.
// Writers also get a selection (kept by id across scrolling, sorting, filters and live
// updates; or "all matching the current filter") and the Actions dialog (fleet_actions.js).
import { Live, rpc } from "./live.js";
import { ago, esc, hashrate, statusBadge, temp, watts } from "./format.js";
import { trackOpenAlerts } from "./alerts_badge.js";
import { initActionsDialog } from "./fleet_actions.js";

const ROW_H = 28;
const rows = new Map(); // id -> summary row
let order = []; // ids in display order
let filterIds = null; // Set of ids matching the filter, or null for all
let filterQuery = null;
let sortKey = "code";
let sortDir = 1;
let dirty = true;

const tbody = document.getElementById("tbody");
const spacer = document.getElementById("spacer");
const rowsEl = document.getElementById("rows");
const countEl = document.getElementById("row-count");
const canWrite = document.getElementById("table-wrap").classList.contains("selectable");
const selected = new Set(); // ids picked one by one
let allMatching = false; // "all matching the current filter": follows the filter and the fleet

const collator = new Intl.Collator(undefined, { numeric: true });

function cmp(a, b) {
  const va = a[sortKey], vb = b[sortKey];
  if (va === vb) return collator.compare(a.code || "", b.code || "");
  if (va === null || va === undefined) return 1;
  if (vb === null || vb === undefined) return -1;
  if (typeof va === "string" && typeof vb === "string") return collator.compare(va, vb) * sortDir;
  return (va < vb ? -1 : 1) * sortDir;
}

function rebuild() {
  let list = [...rows.values()];
  if (filterIds) list = list.filter((r) => filterIds.has(r.id));
  list.sort(cmp);
  order = list.map((r) => r.id);
  spacer.style.height = `${order.length * ROW_H}px`;
  countEl.textContent = `${order.length} of ${rows.size} things`;
}

function isSelected(id) {
  return allMatching || selected.has(id); // rendered rows always match the filter
}

function selCell(r) {
  if (!canWrite) return "";
  const checked = isSelected(r.id) ? " checked" : "";
  return `<span class="sel"><input type="checkbox" tabindex="-1"${checked} aria-label="select ${esc(r.code || r.id)}"></span>`;
}

function rowHtml(r) {
  return `<a class="row" href="/things/${encodeURIComponent(r.id)}" data-id="${esc(r.id)}">` +
    `${selCell(r)}<span>${statusBadge(r.status)}</span><span>${esc(r.code)}</span><span>${esc(r.model || r.type)}</span>` +
    `<span>${esc(r.address)}</span><span class="num">${hashrate(r.hashrate)}</span>` +
    `<span class="num">${temp(r.temp)}</span><span class="num">${watts(r.power)}</span>` +
    `<span title="${esc(r.pool)}">${esc(r.pool || "—")}</span><span class="num">${ago(r.ts)}</span></a>`;
}

function render() {
  if (dirty) { rebuild(); dirty = false; }
  const first = Math.max(0, Math.floor(tbody.scrollTop / ROW_H) - 5);
  const count = Math.ceil(tbody.clientHeight / ROW_H) + 10;
  const slice = order.slice(first, first + count);
  rowsEl.style.transform = `translateY(${first * ROW_H}px)`;
  rowsEl.innerHTML = slice.map((id) => rowHtml(rows.get(id))).join("");
  if (canWrite) showSelection();
}

// -- selection (writers) ---------------------------------------------------------------------

function currentOrder() {
  if (dirty) { rebuild(); dirty = false; }
  return order;
}

// What the Actions dialog acts on: explicit ids, or the filter's query for "all matching".
function selection() {
  if (allMatching) return { all: true, ids: [...currentOrder()], query: filterQuery || {} };
  const ids = [...selected].filter((id) => rows.has(id));
  return { all: false, ids, query: { id: { $in: ids } } };
}

function showSelection() {
  const head = document.getElementById("sel-head");
  const shown = currentOrder();
  let text;
  let count;
  if (allMatching) {
    count = shown.length;
    text = `All ${count} matching selected`;
  } else {
    count = selected.size;
    const hidden = filterIds ? [...selected].filter((id) => !filterIds.has(id)).length : 0;
    text = `${count} selected` + (hidden ? ` (${hidden} not shown by the filter)` : "");
  }
  document.getElementById("sel-count").textContent = text;
  head.checked = allMatching || (count > 0 && shown.every((id) => selected.has(id)));
  head.indeterminate = !head.checked && count > 0;
  document.getElementById("sel-clear").disabled = count === 0 && !allMatching;
  document.getElementById("actions-open").disabled = count === 0;
}

function selectAllMatching() {
  allMatching = true;
  selected.clear();
  schedule();
}

function clearSelection() {
  allMatching = false;
  selected.clear();
  schedule();
}

function toggle(id) {
  if (allMatching) {
    // Unticking one row of "all matching": from now on, the ids shown minus this one.
    allMatching = false;
    for (const other of currentOrder()) selected.add(other);
  }
  if (selected.has(id)) selected.delete(id);
  else selected.add(id);
  schedule();
}

if (canWrite) {
  rowsEl.addEventListener("click", (ev) => {
    const cell = ev.target.closest(".sel");
    if (!cell) return;
    ev.preventDefault(); // the box selects; it does not open the thing (the render sets it)
    toggle(cell.closest(".row").dataset.id);
  });
  // Unticked or partly ticked: select all matching; ticked: clear.
  document.getElementById("sel-head").addEventListener("change", (ev) => {
    if (ev.target.checked) selectAllMatching();
    else clearSelection();
  });
  document.getElementById("sel-all").addEventListener("click", selectAllMatching);
  document.getElementById("sel-clear").addEventListener("click", clearSelection);
  initActionsDialog(selection, (id) => rows.get(id));
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

tbody.addEventListener("scroll", schedule, { passive: true });
window.addEventListener("resize", schedule);
setInterval(schedule, 5000); // "last seen" ages even without updates

document.getElementById("thead").addEventListener("click", (ev) => {
  const key = ev.target.dataset.key;
  if (!key) return;
  sortDir = key === sortKey ? -sortDir : 1;
  sortKey = key;
  for (const s of document.querySelectorAll("#thead span")) delete s.dataset.sort;
  ev.target.dataset.sort = String(sortDir);
  dirty = true;
  schedule();
});

async function applyFilter() {
  const msg = document.getElementById("filter-msg");
  if (!filterQuery) { filterIds = null; msg.textContent = ""; dirty = true; schedule(); return; }
  try {
    const found = await rpc("listThings", { query: filterQuery, fields: { id: 1 }, limit: 100000 });
    filterIds = new Set(found.map((t) => t.id));
    msg.textContent = "";
  } catch (err) {
    msg.textContent = String(err.message || err);
  }
  dirty = true;
  schedule();
}

document.getElementById("filter-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = document.getElementById("filter").value.trim();
  if (!text) { filterQuery = null; applyFilter(); return; }
  try {
    filterQuery = JSON.parse(text);
  } catch (err) {
    document.getElementById("filter-msg").textContent = `not JSON: ${err.message}`;
    return;
  }
  applyFilter();
});
document.getElementById("filter-clear").addEventListener("click", () => {
  document.getElementById("filter").value = "";
  filterQuery = null;
  applyFilter();
});
// Membership of a filter changes as values change: re-run it while one is set.
setInterval(() => { if (filterQuery) applyFilter(); }, 5000);

function showAggregates(a) {
  const coins = Object.entries(a.hashrate_by_coin || {});
  document.getElementById("tile-hashrate").innerHTML = coins.length
    ? coins.map(([coin, hs]) => `<div>${esc(coin)}: ${hashrate(hs)}</div>`).join("")
    : "—";
  document.getElementById("tile-power").textContent = watts(a.total_power_w);
  document.getElementById("tile-alive").textContent = a.alive;
  const sc = a.status_counts || {};
  document.getElementById("tile-status").innerHTML = Object.entries(sc)
    .map(([s, n]) => `${statusBadge(s)} ${n}`).join(" ");
}

const live = new Live();
live.subscribe("aggregates", showAggregates, showAggregates);
live.subscribe(
  "fleet",
  (data) => {
    rows.clear();
    for (const r of data.rows) rows.set(r.id, r);
    for (const id of selected) if (!rows.has(id)) selected.delete(id); // forgotten meanwhile
    dirty = true;
    schedule();
  },
  (diff) => {
    for (const r of diff.upsert) rows.set(r.id, r);
    for (const id of diff.remove) { rows.delete(id); selected.delete(id); }
    dirty = true;
    schedule();
  },
);
trackOpenAlerts(live); // the nav's open-alert count, on this page's socket
