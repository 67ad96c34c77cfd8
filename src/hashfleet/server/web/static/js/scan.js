// Discovery page: stream a scan's progress (NDJSON), list finds, register the selected ones.
import { esc, hashrate } from "./format.js";
import { rpc } from "./live.js";

const $ = (id) => document.getElementById(id);
const rows = $("scan-results").querySelector("tbody");
const canWrite = $("scan").dataset.canWrite === "true";
const found = new Map(); // address -> device
let controller = null;

document.getElementById("conn").textContent = "";

function setProgress(done, total) {
  $("scan-bar").style.width = total ? `${(100 * done) / total}%` : "0";
}

function rowFor(dev) {
  const tr = document.createElement("tr");
  tr.dataset.address = dev.address;
  let known = "new";
  if (typeof dev.known === "string") known = `<a href="/things/${encodeURIComponent(dev.known)}">yes</a>`;
  else if (dev.known) known = "added";
  tr.innerHTML = `<td><input type="checkbox" class="pick" ${dev.known || !canWrite ? "disabled" : ""}></td>
    <td>${esc(dev.address)}</td><td>${esc(dev.family)}</td><td>${esc(dev.make || "—")}</td>
    <td>${esc(dev.model || "—")}</td><td>${esc(dev.firmware || "—")}</td>
    <td class="num">${hashrate(dev.hashrate)}</td>
    <td><span class="st st-${esc(dev.status || "offline")}">${esc(dev.status || "—")}</span></td>
    <td>${known}</td>`;
  return tr;
}

function addDevice(dev) {
  found.set(dev.address, dev);
  const sorted = [...found.keys()].sort((a, b) => ipNum(a) - ipNum(b));
  const at = sorted.indexOf(dev.address);
  const before = rows.children[at] || null;
  rows.insertBefore(rowFor(dev), before);
}

function ipNum(ip) {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

async function runScan(ev) {
  ev.preventDefault();
  found.clear();
  rows.replaceChildren();
  setProgress(0, 0);
  const targets = $("scan-targets").value.split(/[\s,]+/).filter(Boolean);
  const body = {
    targets,
    concurrency: Number($("scan-concurrency").value),
    timeout: Number($("scan-timeout").value),
  };
  controller = new AbortController();
  $("scan-start").disabled = true;
  $("scan-stop").disabled = false;
  $("scan-msg").textContent = "scanning…";
  try {
    const resp = await fetch("/api/scan", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: controller.signal,
    });
    if (!resp.ok) {
      const err = await resp.json();
      throw new Error(err.message || err.error);
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.type === "progress") {
          setProgress(msg.done, msg.total);
          if (msg.device) addDevice(msg.device);
          $("scan-msg").textContent = `${msg.done}/${msg.total} addresses, ${found.size} found`;
        } else if (msg.type === "done") {
          $("scan-msg").textContent = `done: ${msg.found} found in ${msg.scanned} addresses`;
        }
      }
    }
  } catch (e) {
    $("scan-msg").textContent = e.name === "AbortError" ? "stopped" : `error: ${e.message}`;
  } finally {
    $("scan-start").disabled = false;
    $("scan-stop").disabled = true;
    updateRegister();
  }
}

function picked() {
  return [...rows.querySelectorAll("input.pick:checked")].map(
    (box) => found.get(box.closest("tr").dataset.address));
}

function updateRegister() {
  $("register-btn").disabled = !canWrite || picked().length === 0 || !$("register-rack").value;
}

async function loadRacks() {
  try {
    const racks = await rpc("listRacks", {});
    for (const rack of racks) {
      const opt = document.createElement("option");
      opt.value = rack.id;
      opt.textContent = `${rack.id} (${rack.type})`;
      $("register-rack").append(opt);
    }
  } catch (e) {
    $("register-msg").textContent = `cannot list racks: ${e.message}`;
  }
  updateRegister();
}

async function register(ev) {
  ev.preventDefault();
  const rack = $("register-rack").value;
  let added = 0;
  for (const dev of picked()) {
    try {
      const info = {};
      if (dev.make) info.make = dev.make;
      if (dev.model) info.model = dev.model;
      await rpc("registerThing", { rack, type: dev.type, opts: dev.opts, info, tags: [`f-${dev.family}`] });
      dev.known = true;
      rows.querySelector(`tr[data-address="${CSS.escape(dev.address)}"]`).replaceWith(rowFor(dev));
      added++;
    } catch (e) {
      $("register-msg").textContent = `${dev.address}: ${e.message}`;
      break;
    }
  }
  $("register-msg").textContent = `added ${added} to ${rack}`;
  updateRegister();
}

$("scan-form").addEventListener("submit", runScan);
$("scan-stop").addEventListener("click", () => controller && controller.abort());
$("register-form").addEventListener("submit", register);
rows.addEventListener("change", updateRegister);
$("register-rack").addEventListener("change", updateRegister);
$("scan-all").addEventListener("change", (ev) => {
  for (const box of rows.querySelectorAll("input.pick:not(:disabled)")) box.checked = ev.target.checked;
  updateRegister();
});
if (!canWrite) $("scan-start").disabled = true;
loadRacks();
