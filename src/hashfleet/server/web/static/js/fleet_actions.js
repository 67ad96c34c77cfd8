// The fleet page's Actions dialog: offers the actions the selected things' driver families
// can run (GET /api/capabilities), collects the parameters, calls pushAction and shows the
// answer (action id, state and votes, the things left out and why). Every value that comes
// from the server is escaped.
import { rpc } from "./live.js";
import { esc } from "./format.js";

// Seed names (sent to pushAction) and the capabilities they run as.
export const ACTIONS = [
  { name: "reboot", method: "reboot", label: "Reboot" },
  { name: "setPowerMode", method: "set_power_mode", label: "Set power mode" },
  { name: "setPowerLimit", method: "set_power_limit", label: "Power limit (W)" },
  { name: "setLed", method: "set_led", label: "LED on/off" },
  { name: "setFan", method: "set_fan", label: "Fan speed (%)" },
  { name: "setFrequency", method: "set_frequency", label: "Frequency (MHz)" },
  { name: "setPools", method: "set_pools", label: "Set pools" },
  { name: "pause", method: "pause", label: "Pause mining" },
  { name: "resume", method: "resume", label: "Resume mining" },
];
const UNKNOWN = "(unknown)";

const $ = (id) => document.getElementById(id);

let families = null; // family -> Set of capabilities

async function loadCapabilities() {
  if (families) return families;
  const resp = await fetch("/api/capabilities", { headers: { Accept: "application/json" } });
  if (resp.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  const body = await resp.json();
  if (!resp.ok) throw new Error(`${body.error}: ${body.message}`);
  families = new Map(Object.entries(body.families).map(([f, caps]) => [f, new Set(caps)]));
  return families;
}

const can = (family, action) => Boolean(families.get(family)?.has(action.method));

function stateText(doc) {
  if (doc.state !== "voting") return doc.state;
  const pos = Object.values(doc.votes || {}).filter(Boolean).length;
  return `voting ${pos}/${doc.reqVotesPos}`;
}

function targetCount(doc) {
  return Object.values(doc.targets || {}).reduce((n, t) => n + (t.calls || []).length, 0);
}

export function errorsHtml(errors) {
  if (!errors || !errors.length) return "";
  const items = errors.map((e) => {
    const count = Number.isFinite(e.count) ? ` ${e.count} thing${e.count === 1 ? "" : "s"}:` : "";
    const ids = (e.ids || []).slice(0, 10).map(esc).join(", ");
    const more = (e.ids || []).length > 10 || (e.count || 0) > (e.ids || []).length ? ", …" : "";
    return `<li data-error="${esc(e.error)}"><code>${esc(e.error)}</code>${count} ${esc(e.message)}` +
      (ids ? ` <span class="muted">(${ids}${more})</span>` : "") + "</li>";
  });
  return `<ul class="act-errors">${items.join("")}</ul>`;
}

// selection(): {all, ids, query}; rowOf(id): the fleet row (with its family).
export function initActionsDialog(selection, rowOf) {
  const dlg = $("act-dialog");
  const form = $("act-form");
  const select = $("act-action");
  const result = $("act-result");
  const push = $("act-push");
  let sel = { all: false, ids: [], query: {} };
  let famCounts = new Map(); // family -> things selected

  const mode = () => form.querySelector("input[name=act-mode]:checked").value;
  const chosen = () => ACTIONS.find((a) => a.name === select.value);

  function fill() {
    const fams = [...famCounts.keys()];
    const offered = ACTIONS.filter((a) =>
      mode() === "all" ? fams.every((f) => can(f, a)) : fams.some((f) => can(f, a)));
    const keep = select.value;
    select.innerHTML = offered
      .map((a) => `<option value="${esc(a.name)}">${esc(a.label)}</option>`).join("");
    if (offered.some((a) => a.name === keep)) select.value = keep;
    $("act-none").hidden = offered.length > 0;
    select.disabled = offered.length === 0;
    push.disabled = offered.length === 0;
    showParams();
  }

  function showParams() {
    const action = chosen();
    for (const el of form.querySelectorAll(".act-p")) el.hidden = !action || el.dataset.for !== action.name;
    const note = $("act-leftout");
    if (!action) { note.hidden = true; return; }
    let out = 0;
    for (const [f, n] of famCounts) if (!can(f, action)) out += n;
    note.hidden = out === 0;
    note.textContent = out
      ? `${out} of ${sel.ids.length} selected things cannot do this and will be left out.`
      : "";
  }

  function number(id, { min, max, optional } = {}) {
    const raw = $(id).value.trim();
    if (raw === "" && optional) return null;
    const v = Number(raw);
    if (raw === "" || !Number.isFinite(v) || (min !== undefined && v < min) || (max !== undefined && v > max)) {
      $(id).focus();
      throw new Error(`enter a number${min !== undefined ? ` from ${min}` : ""}${max !== undefined ? ` to ${max}` : ""}`);
    }
    return v;
  }

  function params(action) {
    switch (action.name) {
      case "setPowerMode": return [$("p-mode").value];
      case "setPowerLimit": return [number("p-watts", { min: 1 })];
      case "setLed": return [$("p-led").value === "on"];
      case "setFan": return [number("p-fan", { min: 0, max: 100, optional: true })];
      case "setFrequency": return [number("p-freq", { min: 1 })];
      case "setPools": {
        const pools = [];
        for (const row of form.querySelectorAll(".act-pool")) {
          const url = row.querySelector(".p-url").value.trim();
          const user = row.querySelector(".p-user").value.trim();
          const password = row.querySelector(".p-pass").value;
          if (!url && !user) continue;
          if (!url || !user) throw new Error("each pool needs a URL and a user");
          pools.push(password ? { url, user, password } : { url, user });
        }
        if (!pools.length) throw new Error("enter at least one pool");
        return [pools];
      }
      default: return [];
    }
  }

  function showAnswer(res) {
    delete result.dataset.actionId;
    const link = `<p><a href="/actions">Open the Actions page</a></p>`;
    if (res.id === null || res.id === undefined) {
      result.innerHTML = `<p class="error">No action was created.</p>${errorsHtml(res.errors)}${link}`;
      return;
    }
    const doc = res.data;
    const st = stateText(doc);
    result.dataset.actionId = String(res.id);
    result.innerHTML =
      `<p>Action <b class="act-id">#${esc(res.id)}</b> (${esc(doc.action)}) on ${targetCount(doc)} ` +
      `things: <span class="ac-st ac-st-${esc(doc.state)}" id="act-state">${esc(st)}</span></p>` +
      errorsHtml(res.errors) + link;
  }

  $("actions-open").addEventListener("click", async () => {
    sel = selection();
    if (!sel.ids.length) return;
    famCounts = new Map();
    for (const id of sel.ids) {
      const f = rowOf(id)?.family || UNKNOWN;
      famCounts.set(f, (famCounts.get(f) || 0) + 1);
    }
    result.textContent = "";
    try {
      await loadCapabilities();
    } catch (err) {
      result.innerHTML = `<p class="error">${esc(err.message || err)}</p>`;
    }
    const fams = [...famCounts].sort((a, b) => b[1] - a[1]).map(([f, n]) => `${f} × ${n}`).join(", ");
    $("act-summary").textContent =
      `${sel.ids.length} thing${sel.ids.length === 1 ? "" : "s"} selected` +
      (sel.all ? " (all matching the filter)" : "") + `: ${fams}`;
    if (families) fill();
    if (!dlg.open) dlg.showModal();
  });
  for (const radio of form.querySelectorAll("input[name=act-mode]")) radio.addEventListener("change", fill);
  select.addEventListener("change", showParams);
  $("act-close").addEventListener("click", () => dlg.close());

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const action = chosen();
    if (!action) return;
    let body;
    try {
      body = { query: sel.query, action: action.name, params: params(action) };
    } catch (err) {
      result.innerHTML = `<p class="error">${esc(err.message)}</p>`;
      return;
    }
    push.disabled = true;
    result.innerHTML = `<p class="muted">Pushing…</p>`;
    try {
      showAnswer(await rpc("pushAction", body));
    } catch (err) {
      result.innerHTML = `<p class="error">${esc(err.message || err)}</p>`;
    } finally {
      push.disabled = false;
    }
  });
}
