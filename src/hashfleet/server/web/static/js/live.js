// The live connection: one WebSocket, channel subscriptions, automatic reconnect.
// On reconnect every channel is subscribed again, so its full state arrives first.
export class Live {
  constructor() {
    this.handlers = new Map(); // channel -> [{onSnapshot, onDiff}], several parts of a page may listen
    this.nextId = 1;
    this.backoff = 500;
    this.conn = document.getElementById("conn");
    this.connect();
  }

  setState(state, text) {
    if (!this.conn) return;
    this.conn.dataset.state = state;
    this.conn.textContent = text;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${proto}://${location.host}/ws`);
    this.ws.onopen = () => {
      this.backoff = 500;
      this.setState("open", "live");
      for (const channel of this.handlers.keys()) this.send({ type: "subscribe", channel });
    };
    this.ws.onmessage = (ev) => this.dispatch(JSON.parse(ev.data));
    this.ws.onclose = (ev) => {
      if (ev.code === 4401) { location.href = "/login"; return; }
      this.setState("closed", "reconnecting…");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ id: this.nextId++, ...msg }));
  }

  // A second listener of a channel asks again: the server resends the full state, which
  // every listener of the channel may take (a snapshot replaces, it never adds up).
  subscribe(channel, onSnapshot, onDiff) {
    const list = this.handlers.get(channel) || [];
    list.push({ onSnapshot, onDiff });
    this.handlers.set(channel, list);
    this.send({ type: "subscribe", channel });
  }

  dispatch(msg) {
    if (msg.type === "error") { console.warn("live error", msg); return; }
    for (const h of this.handlers.get(msg.channel) || []) {
      if (msg.type === "snapshot") h.onSnapshot(msg.data);
      else if (msg.type === "diff") h.onDiff(msg.data);
    }
  }
}

export async function rpc(method, body) {
  const resp = await fetch(`/rpc/${method}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
  });
  const data = await resp.json();
  if (!resp.ok) throw new Error(`${data.error}: ${data.message}`);
  return data;
}
