// The open-alert count next to the nav's "Alerts" link (base.html).
// Each page owns one Live connection, so a page that wants the badge passes its own:
// trackOpenAlerts(live) subscribes to the "alerts" channel on that socket (the alerts page
// feeds setOpenAlerts from the subscription it already has).
const RANK = { critical: 0, high: 1, medium: 2, low: 3 };

// alerts: an iterable of open alerts (objects with a severity).
export function setOpenAlerts(alerts) {
  const el = document.getElementById("nav-alerts-count");
  if (!el) return;
  let n = 0;
  let worst = "low";
  for (const a of alerts) {
    n += 1;
    if ((RANK[a.severity] ?? 9) < RANK[worst]) worst = a.severity;
  }
  el.textContent = String(n);
  el.dataset.severity = worst;
  el.hidden = n === 0;
}

export function trackOpenAlerts(live) {
  const open = new Map(); // id -> alert
  live.subscribe(
    "alerts",
    (data) => {
      open.clear();
      for (const a of data.alerts || []) open.set(a.id, a);
      setOpenAlerts(open.values());
    },
    (diff) => {
      for (const a of diff.upsert || []) open.set(a.id, a);
      for (const id of diff.remove || []) open.delete(id);
      setOpenAlerts(open.values());
    },
  );
}
