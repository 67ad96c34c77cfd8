// My account: who I am (GET /api/me), my API tokens (create, with the secret shown once;
// revoke) and my password (POST /api/me/password). Token names and scopes are
// user-supplied: text only.
import { api, chips, el, noLive, say, splitPerms, tokenCells } from "./people.js";

const $ = (id) => document.getElementById(id);
noLive();

// -- who am I -----------------------------------------------------------------------------

async function loadMe() {
  const me = await api("GET", "/api/me");
  $("me-name").textContent = me.username;
  $("me-role").textContent = me.role;
  $("me-perms").replaceChildren(chips(me.permissions));
  if (!me.permissions.length) $("me-perms").append(el("span", { class: "muted" }, "none"));
  // A role without any "w" makes read-only tokens only: say so, do not offer "write".
  const write = $("tok-write");
  write.disabled = !me.can_write;
  if (!me.can_write) write.checked = false;
  $("tok-write-note").hidden = me.can_write;
}

// -- my tokens ----------------------------------------------------------------------------

function tokenRow(t) {
  const tr = el("tr", { dataset: { id: t.id } });
  const actions = el("td", { class: "adm-actions" });
  if (!t.revoked_at) {
    const revoke = el("button", { type: "button", class: "adm-revoke" }, "Revoke");
    revoke.addEventListener("click", () => revokeToken(t));
    actions.append(revoke);
  }
  tr.append(...tokenCells(t), actions);
  return tr;
}

async function loadTokens() {
  const tokens = await api("GET", "/api/tokens");
  tokens.sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  $("my-tokens-rows").replaceChildren(...tokens.map(tokenRow));
  $("my-tokens-empty").hidden = tokens.length > 0;
}

async function revokeToken(t) {
  if (!window.confirm(`Revoke the token ${t.name}? Scripts using it stop working.`)) return;
  try {
    await api("DELETE", `/api/tokens/${encodeURIComponent(t.id)}`);
  } catch (err) {
    say($("tok-msg"), err.message, true);
    return;
  }
  say($("tok-msg"), `token ${t.name} revoked`);
  await loadTokens().catch((e) => say($("tok-msg"), e.message, true));
}

function hideSecret() {
  $("tok-secret").value = "";
  $("tok-new").hidden = true;
}

$("token-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  hideSecret();
  const body = { name: $("tok-name").value.trim(), write: $("tok-write").checked };
  const scopes = splitPerms($("tok-scopes").value);
  if (scopes.length) body.scopes = scopes;
  const days = $("tok-days").value.trim();
  if (days) body.expires_in_days = Number(days);
  let created;
  try {
    created = await api("POST", "/api/tokens", body);
  } catch (err) {
    say($("tok-msg"), err.message, true);
    return;
  }
  say($("tok-msg"), `token ${created.name} created`);
  $("token-form").reset();
  await loadMe().catch(() => {}); // reset() re-checks "write": put the viewer rule back
  $("tok-secret").value = created.token;
  $("tok-new").hidden = false;
  $("tok-secret").select();
  await loadTokens().catch((e) => say($("tok-msg"), e.message, true));
});

$("tok-copy").addEventListener("click", async () => {
  const input = $("tok-secret");
  try {
    await navigator.clipboard.writeText(input.value);
    say($("tok-msg"), "token copied");
  } catch {
    // No clipboard API (plain HTTP off localhost): leave it selected for Ctrl+C.
    input.select();
    say($("tok-msg"), "select the token and copy it (Ctrl+C)");
  }
});
$("tok-done").addEventListener("click", hideSecret);

// -- password -----------------------------------------------------------------------------

$("pw-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("pw-msg");
  const current = $("pw-current").value;
  const next = $("pw-new").value;
  if (next !== $("pw-confirm").value) {
    say(msg, "the new password and its confirmation differ", true);
    return;
  }
  try {
    await api("POST", "/api/me/password", { current, new: next });
  } catch (err) {
    say(msg, err.message, true);
    return;
  }
  $("pw-form").reset();
  say(msg, "password changed; your other sessions were closed");
});

loadMe().catch((e) => say($("me-msg"), e.message, true));
loadTokens().catch((e) => say($("tok-msg"), e.message, true));
