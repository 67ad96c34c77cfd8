// The actions page. Open: voting, ready and executing actions, live from the "actions"
// channel (snapshot, then diffs; done and cancelled ones leave it), with Approve / Deny
// (voteAction) for writers who have not voted and Cancel (cancelActionsBatch) for the
// creator or an admin. History: done and cancelled actions from queryActions, newest first,
// paged by creation time, each with its per-target results. Action names, params, user
// names, thing codes and error texts all go through esc().
import { Live, rpc } from "./live.js";
import { esc } from "./format.js";
import { trackOpenAlerts } from "./alerts_badge.js";

const PAGE = 20;
const PARAMS_MAX = 80;
const SECRET_KEY = /pass|secret|token|key/i;

const $ = (id) => document.getElementById(id);
const root = $("actions-page");
const me = root.dataset.user;
const canWrite = root.dataset.write === "1";
const isAdmin = root.dataset.admin === "1";
const els = {
  tabs: document.querySelectorAll(".ac-tab"),
  msg: $("ac-msg"),
  openPanel: $("panel-open"),
  openRows: $("open-rows"),
  openEmpty: $("open-empty"),
  openCount: $("open-count"),
  historyPanel: $("panel-history"),
  historyRows: $("history-rows"),
  historyEmpty: $("history-empty"),
  more: $("h-more"),
};

// -- formatting -----------------------------------------------------------------------------

function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

const age = (ts) => `${span(Date.now() - ts)} ago`;
const when = (ts) => (ts ? new Date(ts).toLocaleString() : "—");
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj || {}, key);

// Pool passwords and the like are not shown (anyone logged in may read actions).
function masked(v) {
  if (Array.isArray(v)) return v.map(masked);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEY.test(k) ? "***" : masked(x)]));
  }
  return v;
}

function paramsCell(params) {
  if (!params || !params.length) return `<td class="ac-params muted">—</td>`;
  const full = JSON.stringify(masked(params));
  const short = full.length > PARAMS_MAX ? `${full.slice(0, PARAMS_MAX - 1)}…` : full;
  return `<td class="ac-params" title="${esc(full)}"><code>${esc(short)}</code></td>`;
}

function calls(doc) {
  return Object.entries(doc.targets || {}).flatMap(([rack, t]) => (t.calls || []).map((c) => ({ rack, ...c })));
}

function votes(doc) {
  const all = Object.entries(doc.votes || {});
  return { pos: all.filter(([, v]) => v).length, neg: all.filter(([, v]) => !v).length, all };
}

function stateBadge(state, extra = "") {
  const cls = ["voting", "ready", "executing", "done", "cancelled"].includes(state) ? state : "unknown";
  return `<span class="ac-st ac-st-${cls}">${esc(state)}</span>${extra ? ` <span class="ac-extra">${esc(extra)}</span>` : ""}`;
}

function resultCounts(doc) {
  const n = { completed: 0, failed: 0, denied: 0 };
  for (const r of Object.values(doc.results || {})) if (has(n, r.state)) n[r.state] += 1;
  return n;
}

function summary(doc) {
  const total = calls(doc).length;
  const n = resultCounts(doc);
  const got = n.completed + n.failed + n.denied;
  if (doc.state === "cancelled" && got === 0) return "not run";
  let text = `${n.completed} completed, ${n.failed} failed`;
  if (n.denied) text += `, ${n.denied} denied`;
  if (got < total) text += `, ${total - got} without result`;
  return text;
}

// -- Open -----------------------------------------------------------------------------------

const open = new Map(); // id -> action
let gotSnapshot = false;

function buttons(doc) {
  const out = [];
  if (canWrite && doc.state === "voting" && !has(doc.votes, me)) {
    out.push(`<button type="button" class="ac-approve" data-do="approve">Approve</button>`);
    out.push(`<button type="button" class="ac-deny" data-do="deny">Deny</button>`);
  }
  if ((doc.creator === me || isAdmin) && canWrite && (doc.state === "voting" || doc.state === "ready")) {
    out.push(`<button type="button" class="ac-cancel" data-do="cancel">Cancel</button>`);
  }
  return out.join(" ");
}

function openRow(doc) {
  const v = votes(doc);
  const who = v.all.map(([name, yes]) => `${name} ${yes ? "✓" : "✗"}`).join(", ");
  const n = calls(doc).length;
  const racks = Object.keys(doc.targets || {}).join(", ");
  let extra = "";
  if (doc.state === "voting") extra = `${v.pos}/${doc.reqVotesPos}`;
  else if (doc.state === "executing") extra = `${Object.keys(doc.results || {}).length}/${n} done`;
  return `<tr data-id="${esc(doc.id)}" data-state="${esc(doc.state)}">` +
    `<td class="ac-id">#${esc(doc.id)}</td><td class="ac-name">${esc(doc.action)}</td>${paramsCell(doc.params)}` +
    `<td class="ac-creator">${esc(doc.creator)}</td><td class="num ac-targets" title="racks: ${esc(racks)}">${n}</td>` +
    `<td class="ac-votes" title="${esc(who)}">${v.pos}/${esc(doc.reqVotesPos)}` +
    `${v.neg ? ` <span class="muted">(${v.neg}/${esc(doc.reqVotesNeg)} against)</span>` : ""}</td>` +
    `<td class="ac-state">${stateBadge(doc.state, extra)}</td>` +
    `<td class="ac-age" title="${esc(when(doc.createdAt))}">${esc(age(doc.createdAt))}</td>` +
    `<td class="ac-buttons">${buttons(doc)}</td></tr>`;
}

function renderOpen() {
  const list = [...open.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
  els.openRows.innerHTML = list.map(openRow).join("");
  els.openEmpty.hidden = !gotSnapshot || list.length > 0;
  els.openCount.textContent = gotSnapshot ? `(${open.size})` : "";
}

function onSnapshot(data) {
  open.clear();
  for (const a of data.actions || []) open.set(a.id, a);
  gotSnapshot = true;
  renderOpen();
  if (state.tab === "history") scheduleHistory(300); // reconnected: some may have finished
}

function onDiff(diff) {
  for (const a of diff.upsert || []) open.set(a.id, a);
  const closed = (diff.remove || []).filter((id) => open.delete(id));
  renderOpen();
  if (closed.length && state.tab === "history") scheduleHistory(300);
}

els.openRows.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("button[data-do]");
  if (!btn) return;
  const id = Number(btn.closest("tr").dataset.id);
  const what = btn.dataset.do;
  btn.disabled = true;
  els.msg.textContent = "";
  try {
    if (what === "cancel") {
      const n = await rpc("cancelActionsBatch", { ids: [id] });
      els.msg.textContent = n ? `Action #${id} cancelled.` : `Action #${id} could not be cancelled any more.`;
    } else {
      await rpc("voteAction", { id, approve: what === "approve" });
      els.msg.textContent = `${what === "approve" ? "Approved" : "Denied"} action #${id}.`;
    }
  } catch (err) {
    els.msg.textContent = String(err.message || err);
    btn.disabled = false;
  }
});

// -- History --------------------------------------------------------------------------------

let history = []; // shown, newest first
let cursor = null; // createdAt of the oldest shown: the next page ends there
let historySeq = 0;
let historyTimer = null;
const expanded = new Set();

function scheduleHistory(ms) {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(() => loadHistory(true), ms);
}

async function loadHistory(reset) {
  const seq = ++historySeq;
  const base = reset ? [] : history;
  const from = reset ? null : cursor;
  const seen = new Set(base.map((a) => a.id));
  // Paged by creation time (lte: actions created in the same ms as the last one shown are
  // asked for again and skipped by id, so none falls between two pages).
  const atCursor = base.filter((a) => a.createdAt === from).length;
  const limit = Math.min(1000, PAGE + 1 + atCursor);
  const filter = from === null ? {} : { lte: from };
  let res;
  try {
    res = await rpc("queryActions", {
      queries: [
        { type: "done", filter, opts: { limit } },
        { type: "cancelled", filter, opts: { limit } },
      ],
    });
  } catch (err) {
    if (seq === historySeq) els.msg.textContent = String(err.message || err);
    return;
  }
  if (seq !== historySeq) return;
  const merged = [...(res.done || []), ...(res.cancelled || [])]
    .filter((a) => !seen.has(a.id))
    .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
  const page = merged.slice(0, PAGE);
  history = base.concat(page);
  if (history.length) cursor = history[history.length - 1].createdAt;
  els.more.hidden = merged.length <= PAGE;
  renderHistory();
}

function detailHtml(doc) {
  const v = votes(doc).all.map(([name, yes]) => `${esc(name)} ${yes ? "✓" : "✗"}`).join(", ");
  const rows = calls(doc).map((c) => {
    const r = (doc.results || {})[c.id];
    const st = r ? r.state : "—";
    const cls = r && ["completed", "failed", "denied"].includes(r.state) ? ` class="ac-r-${r.state}"` : "";
    const label = c.code || c.id;
    const link = c.rack && c.id === c.rack ? esc(label) : `<a href="/things/${encodeURIComponent(c.id)}">${esc(label)}</a>`;
    return `<tr data-target="${esc(c.id)}"><td>${link}</td><td>${esc(c.rack)}</td>` +
      `<td${cls}>${esc(st)}</td><td class="ac-error">${esc(r?.error || "")}</td>` +
      `<td>${esc(r ? when(r.ts) : "—")}</td></tr>`;
  });
  return `<p class="muted">Votes: ${v || "—"} · needed ${esc(doc.reqVotesPos)} · ` +
    `created ${esc(when(doc.createdAt))} · updated ${esc(when(doc.updatedAt))}</p>` +
    `<table class="small ac-results"><thead><tr><th>Thing</th><th>Rack</th><th>Result</th><th>Error</th><th>When</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table>`;
}

function historyRow(doc) {
  const open = expanded.has(doc.id);
  return `<tr data-id="${esc(doc.id)}" class="ac-hrow">` +
    `<td class="ac-id">#${esc(doc.id)}</td><td class="ac-name">${esc(doc.action)}</td>${paramsCell(doc.params)}` +
    `<td class="ac-creator">${esc(doc.creator)}</td><td class="num">${calls(doc).length}</td>` +
    `<td class="ac-state">${stateBadge(doc.state)}</td><td class="ac-summary">${esc(summary(doc))}</td>` +
    `<td>${esc(when(doc.createdAt))}</td>` +
    `<td><button type="button" class="link ac-expand" aria-expanded="${open}">${open ? "Hide" : "Results"}</button></td></tr>` +
    `<tr class="ac-detail" data-for="${esc(doc.id)}"${open ? "" : " hidden"}><td colspan="9">${open ? detailHtml(doc) : ""}</td></tr>`;
}

function renderHistory() {
  els.historyRows.innerHTML = history.map(historyRow).join("");
  els.historyEmpty.hidden = history.length > 0;
}

els.historyRows.addEventListener("click", (ev) => {
  const btn = ev.target.closest(".ac-expand");
  if (!btn) return;
  const id = Number(btn.closest("tr").dataset.id);
  if (expanded.has(id)) expanded.delete(id);
  else expanded.add(id);
  renderHistory();
});
els.more.addEventListener("click", () => loadHistory(false));

// -- tabs -----------------------------------------------------------------------------------

const state = { tab: new URLSearchParams(location.search).get("tab") === "history" ? "history" : "open" };

function showTab() {
  const hist = state.tab === "history";
  for (const t of els.tabs) t.setAttribute("aria-selected", String(t.dataset.tab === state.tab));
  els.openPanel.hidden = hist;
  els.historyPanel.hidden = !hist;
  window.history.replaceState(null, "", hist ? `${location.pathname}?tab=history` : location.pathname);
}

for (const tab of els.tabs) {
  tab.addEventListener("click", () => {
    if (state.tab === tab.dataset.tab) return;
    state.tab = tab.dataset.tab;
    els.msg.textContent = "";
    showTab();
    if (state.tab === "history") loadHistory(true);
  });
}

showTab();
if (state.tab === "history") loadHistory(true);
setInterval(() => { if (state.tab === "open") renderOpen(); }, 5000); // ages

const live = new Live();
live.subscribe("actions", onSnapshot, onDiff);
trackOpenAlerts(live); // the nav's open-alert count, on this page's socket
