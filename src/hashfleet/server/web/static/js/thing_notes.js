// The detail page's people side: the thing's open alerts (live), its comments (add, edit
// and delete one's own) and its change log (who changed info, opts or tags, and how).
import { rpc } from "./live.js";
import { esc } from "./format.js";

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const SEVERITIES = new Set(Object.keys(SEVERITY_RANK));
const PAGE = 20;

function when(ts) {
  return ts ? new Date(ts).toLocaleString() : "—";
}

function since(ts) {
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function showError(el, err) {
  el.textContent = err ? String(err.message || err) : "";
  el.hidden = !err;
}

// -- open alerts of this thing, from the live "alerts" channel ----------------------------

function trackAlerts(live, thingId) {
  const box = document.getElementById("n-alerts");
  if (!box) return;
  const open = new Map(); // id -> alert of this thing
  const render = () => {
    const list = [...open.values()].sort(
      (a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || a.created_at - b.created_at,
    );
    box.dataset.count = String(list.length);
    if (!list.length) {
      box.innerHTML = '<p class="muted">No open alerts.</p>';
      return;
    }
    box.innerHTML = `<table class="small"><thead><tr><th>severity</th><th>alert</th><th>description</th><th>open for</th></tr></thead><tbody>${list
      .map((a) => {
        const sev = SEVERITIES.has(a.severity) ? a.severity : "low";
        return `<tr data-alert-id="${esc(a.id)}"><td><span class="sev sev-${sev}">${esc(a.severity)}</span></td><td>${esc(a.name)}</td><td>${esc(a.description)}</td><td title="${esc(when(a.created_at))}">${esc(since(a.created_at))}</td></tr>`;
      })
      .join("")}</tbody></table>`;
  };
  const take = (a) => {
    if (a.thing_id === thingId) open.set(a.id, a);
    else open.delete(a.id);
  };
  live.subscribe(
    "alerts",
    (data) => {
      open.clear();
      for (const a of data.alerts || []) take(a);
      render();
    },
    (diff) => {
      for (const a of diff.upsert || []) take(a);
      for (const id of diff.remove || []) open.delete(id);
      render();
    },
  );
  setInterval(render, 30000); // "open for" moves on
}

// -- comments -----------------------------------------------------------------------------

function setupComments(thingId, me, isAdmin, canWrite) {
  const list = document.getElementById("n-comments");
  const form = document.getElementById("n-comment-form");
  const input = document.getElementById("n-comment-text");
  const err = document.getElementById("n-comment-error");
  if (!list) return;
  if (form) form.hidden = !canWrite;

  const load = async () => {
    try {
      const items = await rpc("getThingComments", { thingId, limit: 100 });
      showError(err, null);
      list.dataset.count = String(items.length);
      if (!items.length) {
        list.innerHTML = '<li class="muted">No comments yet.</li>';
        return;
      }
      list.innerHTML = items
        .map((c) => {
          const mine = canWrite && c.user === me;
          const edited = c.updatedAt !== c.createdAt ? ` <span class="muted">(edited ${esc(when(c.updatedAt))})</span>` : "";
          const actions = [
            mine ? '<button type="button" class="link" data-act="edit">Edit</button>' : "",
            mine || (canWrite && isAdmin) ? '<button type="button" class="link" data-act="delete">Delete</button>' : "",
          ].join(" ");
          return `<li class="comment" data-comment-id="${esc(c.id)}"><div class="comment-head"><strong>${esc(c.user)}</strong> <span class="muted">${esc(when(c.createdAt))}</span>${edited} ${actions}</div><div class="comment-body">${esc(c.comment)}</div></li>`;
        })
        .join("");
    } catch (e) {
      showError(err, e);
    }
  };

  form?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      await rpc("saveThingComment", { thingId, comment: text });
      input.value = "";
      showError(err, null);
      await load();
    } catch (e) {
      showError(err, e);
    }
  });

  list.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-act]");
    const item = button?.closest("li[data-comment-id]");
    if (!item) return;
    const commentId = item.dataset.commentId;
    try {
      if (button.dataset.act === "delete") {
        if (!window.confirm("Delete this comment?")) return;
        await rpc("deleteThingComment", { thingId, commentId });
      } else {
        const body = item.querySelector(".comment-body");
        const text = window.prompt("Edit comment", body.textContent);
        if (text === null || !text.trim()) return;
        await rpc("editThingComment", { thingId, commentId, comment: text.trim() });
      }
      showError(err, null);
      await load();
    } catch (e) {
      showError(err, e);
    }
  });
  load();
}

// -- change log ---------------------------------------------------------------------------

function diffText(diff) {
  const parts = [];
  for (const [path, change] of Object.entries(diff || {})) {
    if (path === "tags" && change && !Array.isArray(change)) {
      if (change.added?.length) parts.push(`tags +${change.added.join(", +")}`);
      if (change.removed?.length) parts.push(`tags −${change.removed.join(", −")}`);
    } else if (Array.isArray(change) && change.length === 2) {
      parts.push(`${path}: ${JSON.stringify(change[0])} → ${JSON.stringify(change[1])}`);
    } else {
      parts.push(`${path}: ${JSON.stringify(change)}`);
    }
  }
  return parts;
}

function setupChangeLog(thingId) {
  const table = document.getElementById("n-changes");
  const more = document.getElementById("n-changes-more");
  const err = document.getElementById("n-changes-error");
  if (!table) return;
  let offset = 0;
  const rows = [];
  const load = async () => {
    try {
      const page = await rpc("getHistoricalLogs", { logType: "info", thingId, offset, limit: PAGE });
      offset += page.length;
      rows.push(...page);
      if (more) more.hidden = page.length < PAGE;
      showError(err, null);
      table.dataset.count = String(rows.length);
      table.innerHTML = rows.length
        ? `<thead><tr><th>when</th><th>who</th><th>what</th><th>changes</th></tr></thead><tbody>${rows
            .map(
              (r) =>
                `<tr><td>${esc(when(r.ts))}</td><td>${esc(r.user || "—")}</td><td>${esc(r.action)}${r.comment ? ` <span class="muted">(${esc(r.comment)})</span>` : ""}</td><td>${diffText(r.diff).map((t) => `<div>${esc(t)}</div>`).join("")}</td></tr>`,
            )
            .join("")}</tbody>`
        : '<tbody><tr><td class="muted">No changes recorded.</td></tr></tbody>';
    } catch (e) {
      showError(err, e);
    }
  };
  more?.addEventListener("click", load);
  load();
}

export function setupNotes(live) {
  const section = document.getElementById("notes");
  if (!section) return;
  const { thingId, user, role, write } = section.dataset;
  trackAlerts(live, thingId);
  setupComments(thingId, user, role === "admin", write === "1");
  setupChangeLog(thingId);
}
