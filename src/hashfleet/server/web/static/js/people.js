// Shared by the admin and account pages: JSON calls to /api, DOM building with text only
// (usernames, role descriptions and token names are user-supplied: never innerHTML), and
// the little formatting both pages need.

// A JSON call; an error answer throws an Error whose message is "ERR_…: message".
export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401 && !path.startsWith("/api/me/")) {
    location.href = "/login";
    throw new Error("ERR_UNAUTHORIZED: session ended");
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = new Error(data && data.error ? `${data.error}: ${data.message}` : `HTTP ${resp.status}`);
    err.code = data && data.error;
    throw err;
  }
  return data;
}

// el("td", { class: "x", title: "y" }, "text", otherNode): children are text or nodes.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function chips(perms) {
  const box = el("span", { class: "adm-chips" });
  for (const p of perms || []) box.append(el("span", { class: "adm-chip" }, p));
  return box;
}

export const when = (ts) => (ts ? new Date(ts).toLocaleString() : "—");

// "miner:rw, container:r" or "miner:rw container:r" -> ["miner:rw", "container:r"]
export function splitPerms(text) {
  return String(text || "").split(/[\s,]+/).filter(Boolean);
}

// A message line: ok (muted) or an error (red); textContent only.
export function say(node, text, isError = false) {
  node.textContent = text || "";
  node.classList.toggle("error", Boolean(isError));
}

export function tokenState(t, now = Date.now()) {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && t.expires_at <= now) return "expired";
  return "active";
}

// The cells shared by both token tables (after the user column of the admin's).
export function tokenCells(t) {
  const state = tokenState(t);
  return [
    el("td", { class: "adm-name" }, t.name),
    el("td", {}, t.write ? "read-write" : "read-only"),
    el("td", {}, t.scopes ? chips(t.scopes) : el("span", { class: "muted" }, "all of the role")),
    el("td", { class: "adm-ts" }, when(t.created_at)),
    el("td", { class: "adm-ts" }, t.last_used_at ? when(t.last_used_at) : "never"),
    el("td", { class: "adm-ts" }, t.expires_at ? when(t.expires_at) : "never"),
    el(
      "td",
      {},
      el("span", { class: `adm-state adm-state-${state}` }, state),
      t.revoked_at ? el("span", { class: "muted adm-ts" }, ` ${when(t.revoked_at)}`) : null,
    ),
  ];
}

// The page has no live connection: blank the nav's connection indicator.
export function noLive() {
  const conn = document.getElementById("conn");
  if (conn) conn.textContent = "";
}
