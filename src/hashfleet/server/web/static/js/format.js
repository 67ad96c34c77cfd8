// Formatting helpers shared by the pages.
const PREFIXES = [[1e18, "EH/s"], [1e15, "PH/s"], [1e12, "TH/s"], [1e9, "GH/s"], [1e6, "MH/s"], [1e3, "kH/s"]];

export function hashrate(hs) {
  if (hs === null || hs === undefined) return "—";
  for (const [f, u] of PREFIXES) if (Math.abs(hs) >= f) return `${(hs / f).toFixed(2)} ${u}`;
  return `${Number(hs).toFixed(2)} H/s`;
}

export function watts(w) {
  if (w === null || w === undefined) return "—";
  if (w >= 1e6) return `${(w / 1e6).toFixed(2)} MW`;
  return w >= 10000 ? `${(w / 1000).toFixed(1)} kW` : `${Math.round(w)} W`;
}

export function temp(t) {
  return t === null || t === undefined ? "—" : `${Number(t).toFixed(0)} °C`;
}

export function ago(ts) {
  if (!ts) return "never";
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

export function statusBadge(status) {
  const s = esc(status || "offline");
  return `<span class="st st-${s}">${s}</span>`;
}
