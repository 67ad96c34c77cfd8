// The admin page: people (create, role, disable/enable, password reset, delete), roles
// (built-in ones listed, custom ones created, edited and deleted) and every API token
// (revoke). Everything goes through /api/users, /api/roles and /api/tokens?all=1; the
// server's refusals (ERR_LAST_ADMIN, ERR_USER_SELF, ERR_PERMISSION_INVALID, …) are shown
// as text next to the section. Usernames and descriptions are user-supplied: text only.
import { api, chips, el, noLive, say, splitPerms, tokenCells, when } from "./people.js";

const $ = (id) => document.getElementById(id);
const ME = $("admin-page").dataset.me;
const msgs = { users: $("u-msg"), roles: $("r-msg"), tokens: $("t-msg") };
let roles = [];
let editing = null; // name of the custom role in the form, or null when creating

noLive();

function fail(where, err) {
  say(msgs[where], err.message, true);
}

// -- users --------------------------------------------------------------------------------

function roleSelect(current) {
  const sel = el("select", { class: "adm-role", "aria-label": "role" });
  const names = roles.map((r) => r.name);
  if (!names.includes(current)) names.push(current); // a role deleted under our feet
  for (const name of names) {
    const opt = el("option", { value: name }, name);
    opt.selected = name === current;
    sel.append(opt);
  }
  return sel;
}

function lockText(u) {
  if (u.locked_until && u.locked_until > Date.now()) return `locked until ${when(u.locked_until)}`;
  if (u.failed_logins) return `${u.failed_logins} failed login${u.failed_logins === 1 ? "" : "s"}`;
  return "";
}

function userRow(u) {
  const tr = el("tr", { dataset: { id: u.id } });
  const sel = roleSelect(u.role);
  sel.addEventListener("change", () => patchUser(u, { role: sel.value }, `${u.username} is now ${sel.value}`));
  const lock = lockText(u);
  const state = el(
    "td",
    { class: "adm-ustate" },
    el("span", { class: `adm-state adm-state-${u.disabled ? "disabled" : "active"}` }, u.disabled ? "disabled" : "enabled"),
    lock ? el("span", { class: "adm-lock" }, ` ${lock}`) : null,
  );
  const toggle = el("button", { type: "button", class: "adm-toggle" }, u.disabled ? "Enable" : "Disable");
  toggle.addEventListener("click", () =>
    patchUser(u, { disabled: !u.disabled }, `${u.username} ${u.disabled ? "enabled" : "disabled"}`));
  const resetBtn = el("button", { type: "button", class: "adm-reset" }, "Reset password");
  const del = el("button", { type: "button", class: "adm-delete" }, "Delete");
  del.addEventListener("click", () => deleteUser(u));
  const actions = el("td", { class: "adm-actions" }, toggle, resetBtn, del);
  // The reset form replaces the buttons until saved or cancelled.
  const pw = el("input", { type: "password", class: "adm-newpw", placeholder: "new password", "aria-label": "new password", autocomplete: "new-password" });
  const save = el("button", { type: "button", class: "adm-reset-save" }, "Set password");
  const cancel = el("button", { type: "button" }, "Cancel");
  const resetBox = el("span", { class: "adm-resetbox", hidden: true }, pw, save, cancel);
  actions.append(resetBox);
  const showReset = (on) => {
    resetBox.hidden = !on;
    for (const b of [toggle, resetBtn, del]) b.hidden = on;
    if (on) pw.focus();
    else pw.value = "";
  };
  resetBtn.addEventListener("click", () => showReset(true));
  cancel.addEventListener("click", () => showReset(false));
  const doReset = async () => {
    if (await patchUser(u, { password: pw.value }, `password of ${u.username} reset`, false)) showReset(false);
  };
  save.addEventListener("click", doReset);
  pw.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); doReset(); } });
  tr.append(
    el("td", { class: "adm-name" }, u.username, u.id === ME ? el("span", { class: "muted" }, " (you)") : null),
    el("td", {}, sel),
    state,
    el("td", { class: "adm-ts" }, when(u.created_at)),
    actions,
  );
  return tr;
}

// Returns whether it worked; the table is reloaded either way (a refused role change
// puts the select back to the role the person still has).
async function patchUser(u, change, okText, reloadOnError = true) {
  try {
    await api("PATCH", `/api/users/${encodeURIComponent(u.id)}`, change);
    say(msgs.users, okText);
  } catch (err) {
    fail("users", err);
    if (reloadOnError) await loadUsers().catch((e) => fail("users", e));
    return false;
  }
  await Promise.all([loadUsers(), loadTokens()]).catch((e) => fail("users", e));
  return true;
}

async function deleteUser(u) {
  if (!window.confirm(`Delete ${u.username} with their tokens and sessions?`)) return;
  try {
    await api("DELETE", `/api/users/${encodeURIComponent(u.id)}`);
    say(msgs.users, `${u.username} deleted`);
  } catch (err) {
    fail("users", err);
    return;
  }
  await Promise.all([loadUsers(), loadTokens()]).catch((e) => fail("users", e));
}

$("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { username: $("u-name").value, password: $("u-password").value, role: $("u-role").value };
  try {
    await api("POST", "/api/users", body);
  } catch (err) {
    fail("users", err);
    return;
  }
  say(msgs.users, `${body.username} created`);
  $("u-name").value = "";
  $("u-password").value = "";
  await loadUsers().catch((e) => fail("users", e));
});

// -- roles --------------------------------------------------------------------------------

function roleRow(r) {
  const tr = el("tr", { dataset: { role: r.name } });
  const actions = el("td", { class: "adm-actions" });
  if (!r.builtin) {
    const edit = el("button", { type: "button", class: "adm-edit" }, "Edit");
    edit.addEventListener("click", () => startEdit(r));
    const del = el("button", { type: "button", class: "adm-delete" }, "Delete");
    del.addEventListener("click", () => deleteRole(r));
    actions.append(edit, del);
  }
  tr.append(
    el("td", { class: "adm-name" }, r.name, r.builtin ? el("span", { class: "adm-builtin" }, "built-in") : null),
    el("td", {}, chips(r.permissions)),
    el("td", { class: "adm-desc" }, r.description || ""),
    actions,
  );
  return tr;
}

function fillRoleSelect() {
  const sel = $("u-role");
  const keep = sel.value || "operator";
  sel.replaceChildren(...roles.map((r) => el("option", { value: r.name }, r.name)));
  sel.value = roles.some((r) => r.name === keep) ? keep : roles[0]?.name || "";
}

async function loadRoles() {
  roles = await api("GET", "/api/roles");
  $("roles-rows").replaceChildren(...roles.map(roleRow));
  fillRoleSelect();
}

function startEdit(r) {
  editing = r.name;
  $("r-name").value = r.name;
  $("r-name").readOnly = true;
  $("r-perms").value = r.permissions.join(" ");
  $("r-desc").value = r.description || "";
  $("r-save").textContent = `Save ${r.name}`;
  $("r-cancel").hidden = false;
  say(msgs.roles, "");
  $("r-perms").focus();
}

function stopEdit() {
  editing = null;
  $("role-form").reset();
  $("r-name").readOnly = false;
  $("r-save").textContent = "Create role";
  $("r-cancel").hidden = true;
}

$("r-cancel").addEventListener("click", stopEdit);

$("role-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("r-name").value.trim();
  const body = { permissions: splitPerms($("r-perms").value), description: $("r-desc").value };
  try {
    if (editing) await api("PUT", `/api/roles/${encodeURIComponent(editing)}`, body);
    else await api("POST", "/api/roles", { name, ...body });
  } catch (err) {
    fail("roles", err);
    return;
  }
  say(msgs.roles, editing ? `role ${editing} saved` : `role ${name} created`);
  stopEdit();
  await loadRoles().then(loadUsers).catch((e) => fail("roles", e));
});

async function deleteRole(r) {
  if (!window.confirm(`Delete the role ${r.name}?`)) return;
  try {
    await api("DELETE", `/api/roles/${encodeURIComponent(r.name)}`);
  } catch (err) {
    fail("roles", err);
    return;
  }
  say(msgs.roles, `role ${r.name} deleted`);
  if (editing === r.name) stopEdit();
  await loadRoles().then(loadUsers).catch((e) => fail("roles", e));
}

// -- tokens -------------------------------------------------------------------------------

function tokenRow(t) {
  const tr = el("tr", { dataset: { id: t.id } });
  const actions = el("td", { class: "adm-actions" });
  if (!t.revoked_at) {
    const revoke = el("button", { type: "button", class: "adm-revoke" }, "Revoke");
    revoke.addEventListener("click", () => revokeToken(t));
    actions.append(revoke);
  }
  tr.append(el("td", { class: "adm-name" }, t.username), ...tokenCells(t), actions);
  return tr;
}

async function loadTokens() {
  const tokens = await api("GET", "/api/tokens?all=1");
  tokens.sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  $("tokens-rows").replaceChildren(...tokens.map(tokenRow));
  $("tokens-empty").hidden = tokens.length > 0;
}

async function revokeToken(t) {
  if (!window.confirm(`Revoke the token ${t.name} of ${t.username}?`)) return;
  try {
    await api("DELETE", `/api/tokens/${encodeURIComponent(t.id)}`);
  } catch (err) {
    fail("tokens", err);
    return;
  }
  say(msgs.tokens, `token ${t.name} of ${t.username} revoked`);
  await loadTokens().catch((e) => fail("tokens", e));
}

async function loadUsers() {
  const users = await api("GET", "/api/users");
  await rolesReady; // the role selects list the roles
  $("users-rows").replaceChildren(...users.map(userRow));
}

// Everything is fetched at once; users are drawn once the roles are known.
const rolesReady = loadRoles().catch((e) => fail("roles", e));
loadUsers().catch((e) => fail("users", e));
loadTokens().catch((e) => fail("tokens", e));
