// Shardis actor dashboard.  No framework, no build step, nothing fetched
// from elsewhere.  Rule: data from the server is only ever placed with
// textContent / attribute setters, never parsed as HTML, so a key or client
// name like <script>alert(1)</script> is shown as the text it is.
"use strict";

const MAX_POINTS = 300;
const SHARD_COLORS = ["#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#805ad5", "#b7791f",
                      "#319795", "#d53f8c", "#4a5568", "#68d391", "#f6ad55", "#63b3ed"];
const STAGES = [
  ["parse_to_send", "parse → send", "#718096"],
  ["queued_in_mailbox", "queued in mailbox", "#dd6b20"],
  ["execute", "execute", "#2f855a"],
  ["back_to_loop", "back to loop", "#2b6cb0"],
  ["wait_for_order_and_write", "wait for order + write", "#805ad5"],
];

const state = {
  points: [],            // history ring buffer (server keeps the same)
  clients: [],
  sortKey: "id", sortDir: 1,
  filter: "",
  rows: new Map(),       // client id -> <tr>, reused so buttons stay put
  updates: 0,
};

// ------------------------------------------------------------------ helpers
function $(id) { return document.getElementById(id); }

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);  // strings become text nodes
  return e;
}

function fmtNum(n) {
  if (n === null || n === undefined) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(a >= 100 ? 0 : 1);
}
function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  if (n < 1073741824) return (n / 1048576).toFixed(1) + " MiB";
  return (n / 1073741824).toFixed(2) + " GiB";
}
function fmtUs(us) {
  if (us === null || us === undefined) return "–";
  if (us < 1000) return us.toFixed(us < 10 ? 1 : 0) + " µs";
  if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + " ms";
  return (us / 1e6).toFixed(2) + " s";
}
function fmtDur(s) {
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
}
function fmtTime(unix) { return new Date(unix * 1000).toLocaleTimeString(); }

function setCell(tr, col, text, cls) {
  const td = tr.querySelector(`td[data-col="${col}"]`);
  td.textContent = text;
  td.className = cls || "";
  return td;
}

function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(notice.t);
  notice.t = setTimeout(() => { n.hidden = true; }, 4000);
}

// ------------------------------------------------------------------ actors
const SHARD_COLS = ["shard", "state", "mailbox", "peak", "msgs", "cmds", "busy", "p50", "p99",
                    "keys", "mem", "tx", "deferred"];

function renderActors(a) {
  const s = a.server;
  $("server-info").textContent =
    `v${s.version} (Redis ${s.redis_version}) · ${s.bind}:${s.port} · ${s.shards} shards · ` +
    `pid ${s.pid} · up ${fmtDur(s.uptime_s)} · RSS ${fmtBytes(s.rss_bytes)}`;
  const body = $("shards-body");
  for (const sh of a.shards) {
    let tr = body.querySelector(`tr[data-actor="shard-${sh.shard}"]`);
    if (!tr) {
      tr = el("tr", { dataset: { actor: "shard-" + sh.shard } },
              ...SHARD_COLS.map(c => el("td", { dataset: { col: c } })));
      body.append(tr);
    }
    setCell(tr, "shard", `shard ${sh.shard}`).title = `slots ${sh.slots[0]}–${sh.slots[1]}`;
    if (!sh.alive) setCell(tr, "state", "dead", "bad");
    else if (!sh.fresh) setCell(tr, "state", `no answer ${sh.stale_s ?? "?"}s`, "warn");
    else setCell(tr, "state", "alive", "ok");
    setCell(tr, "mailbox", fmtNum(sh.mailbox), sh.mailbox > 1000 ? "warn" : "");
    setCell(tr, "peak", fmtNum(sh.mailbox_peak), sh.mailbox_peak > 1000 ? "warn" : "");
    setCell(tr, "msgs", fmtNum(sh.messages_per_sec));
    setCell(tr, "cmds", fmtNum(sh.commands_per_sec));
    setCell(tr, "busy", sh.busy === null ? "–" : (sh.busy * 100).toFixed(1) + "%",
            sh.busy > 0.9 ? "warn" : "");
    setCell(tr, "p50", fmtUs(sh.p50_us));
    setCell(tr, "p99", fmtUs(sh.p99_us));
    setCell(tr, "keys", fmtNum(sh.keys)).title =
      sh.dbs.map(d => `db${d.db}: ${d.keys} keys, ${d.expires} with TTL`).join("\n") || "empty";
    setCell(tr, "mem", fmtBytes(sh.mem)).title =
      sh.rss_share ? `share of process RSS: ${fmtBytes(sh.rss_share)}` : "";
    setCell(tr, "tx", sh.held ? `held by ${sh.holder}` : `free (${sh.tx_count} so far)`,
            sh.held ? "warn" : "");
    setCell(tr, "deferred", fmtNum(sh.deferred), sh.deferred ? "warn" : "");
  }
  const l = a.loop;
  const tr = $("loop-body").firstElementChild;
  setCell(tr, "clients", fmtNum(l.clients));
  setCell(tr, "in_flight", fmtNum(l.replies_in_flight));
  setCell(tr, "pending", fmtBytes(l.pending_bytes));
  setCell(tr, "cmds", fmtNum(l.commands_per_sec));
  setCell(tr, "completions", fmtNum(l.bridge_completions_per_sec));
  setCell(tr, "wakeups", fmtNum(l.bridge_wakeups_per_sec));
  setCell(tr, "per_wakeup", l.completions_per_wakeup === null ? "–" : String(l.completions_per_wakeup));
  setCell(tr, "lag", l.loop_lag_ms.toFixed(1) + " ms", l.loop_lag_ms > 50 ? "warn" : "");
  setCell(tr, "paused", fmtNum(l.paused_clients), l.paused_clients ? "warn" : "");
  setCell(tr, "blocked", fmtNum(l.blocked_clients));
  setCell(tr, "multi", fmtNum(l.multi_clients));
}

// ------------------------------------------------------------------ charts
// A line chart on a <canvas>, drawn from scratch: y from 0 to a rounded max,
// x = the last MAX_POINTS seconds (right edge = now).
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawChart(canvas, series, fmt) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400, h = canvas.clientHeight || 170;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const L = 58, R = 8, T = 18, B = 18;
  const pw = w - L - R, ph = h - T - B;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const top = niceMax(max);
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = "#e6e9ee";
  g.fillStyle = "#6b7685";
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const y = T + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(L, y + 0.5); g.lineTo(L + pw, y + 0.5); g.stroke();
    g.fillText(fmt((top * i) / 4), L - 4, y);
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  for (const [frac, label] of [[0, "-5m"], [0.4, "-3m"], [0.8, "-1m"], [1, "now"]]) {
    g.fillText(label, L + pw * frac, T + ph + 4);
  }
  const step = pw / (MAX_POINTS - 1);
  let lx = L;
  g.textAlign = "left";
  g.textBaseline = "top";
  for (const s of series) {
    const vals = s.values, off = MAX_POINTS - vals.length;
    g.strokeStyle = s.color;
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v === null || v === undefined) { pen = false; continue; }
      const x = L + (off + i) * step, y = T + ph - (ph * Math.min(v, top)) / top;
      if (pen) g.lineTo(x, y); else { g.moveTo(x, y); pen = true; }
    }
    g.stroke();
    const last = vals.length ? vals[vals.length - 1] : null;
    const label = `${s.label} ${last === null || last === undefined ? "–" : fmt(last)}`;
    g.fillStyle = s.color;
    g.fillRect(lx, 4, 8, 8);
    g.fillStyle = "#1d232b";
    g.fillText(label, lx + 11, 2);
    lx += g.measureText(label).width + 24;
  }
  canvas.dataset.points = String(state.points.length);
  const first = series[0] && series[0].values;
  canvas.dataset.last = first && first.length ? String(first[first.length - 1]) : "";
}

function renderCharts() {
  const p = state.points;
  const nshards = p.length ? p[p.length - 1].shard_cmds.length : 0;
  const shardSeries = (field) => Array.from({ length: nshards }, (_, i) => ({
    label: "s" + i, color: SHARD_COLORS[i % SHARD_COLORS.length],
    values: p.map(x => (x[field] && x[field].length > i ? x[field][i] : null)),
  }));
  drawChart($("chart-cmds"), [
    { label: "total", color: "#1d232b", values: p.map(x => x.cmds) },
    ...shardSeries("shard_cmds"),
  ], fmtNum);
  drawChart($("chart-latency"), [
    { label: "p50", color: "#2f855a", values: p.map(x => x.p50_us) },
    { label: "p99", color: "#c53030", values: p.map(x => x.p99_us) },
  ], v => fmtNum(Math.round(v)));
  drawChart($("chart-mailbox"), shardSeries("mailbox"), v => fmtNum(Math.round(v)));
  drawChart($("chart-pending"), [
    { label: "pending", color: "#805ad5", values: p.map(x => x.pending_bytes) },
  ], fmtBytes);
}

// ------------------------------------------------------------------ clients
const CLIENT_COLS = ["id", "addr", "name", "db", "resp", "state", "in_flight", "pending_bytes",
                     "last_cmd", "cmds", "age", "idle"];

function clientRow(c) {
  const tr = el("tr", { dataset: { clientId: String(c.id) } },
                ...CLIENT_COLS.map(k => el("td", { dataset: { col: k },
                  class: ["addr", "name", "last_cmd"].includes(k) ? "text" : undefined })),
                el("td", null, el("button", { class: "kill", type: "button", text: "kill",
                                              onclick: () => askKill(tr.client) })));
  return tr;
}

function renderClients(list, total) {
  state.clients = list;
  const body = $("clients-body");
  const seen = new Set();
  for (const c of list) {
    seen.add(c.id);
    let tr = state.rows.get(c.id);
    if (!tr) { tr = clientRow(c); state.rows.set(c.id, tr); }
    tr.client = c;
    tr.dataset.name = c.name;
    tr.dataset.state = c.state;
    for (const k of CLIENT_COLS) {
      let v = c[k];
      if (k === "pending_bytes") v = fmtBytes(v);
      else if (k === "age" || k === "idle") v = fmtDur(v);
      else if (k === "resp") v = "RESP" + v;
      else if (k === "state") {
        const why = c.blocked_on.length ? " on " + c.blocked_on.join(" ") :
                    (c.paused.length ? " (" + c.paused.join(", ") + ")" : "");
        setCell(tr, k, c.state + why, "state-" + c.state);
        continue;
      }
      setCell(tr, k, String(v), ["addr", "name", "last_cmd"].includes(k) ? "text" : "");
    }
  }
  for (const [id, tr] of state.rows) {
    if (!seen.has(id)) { tr.remove(); state.rows.delete(id); }
  }
  applyClientView();
  $("clients-count").textContent = total > list.length ? `(${list.length} of ${total} shown)` : `(${total})`;
}

function applyClientView() {
  const f = state.filter;
  const k = state.sortKey, dir = state.sortDir;
  const rows = [...state.rows.values()];
  rows.sort((a, b) => {
    const x = a.client[k], y = b.client[k];
    return (x < y ? -1 : x > y ? 1 : a.client.id - b.client.id) * dir;
  });
  const body = $("clients-body");
  for (const tr of rows) {
    const c = tr.client;
    const hay = `${c.id} ${c.addr} ${c.name} ${c.state} ${c.last_cmd} db${c.db}`.toLowerCase();
    tr.hidden = !!f && !hay.includes(f);
    body.append(tr);   // moves an existing node: the same element stays clickable
  }
  for (const th of document.querySelectorAll("#clients th[data-sort]")) {
    th.classList.toggle("asc", th.dataset.sort === k && dir > 0);
    th.classList.toggle("desc", th.dataset.sort === k && dir < 0);
  }
}

function askKill(c) {
  const d = $("kill-dialog");
  $("kill-text").textContent =
    `Kill client ${c.id} (${c.addr}${c.name ? ", name " + c.name : ""}, last command ${c.last_cmd})?`;
  d.dataset.clientId = String(c.id);
  d.returnValue = "";
  d.showModal();
}

async function onKillDialogClose() {
  const d = $("kill-dialog");
  if (d.returnValue !== "kill") return;
  const id = d.dataset.clientId;
  try {
    const r = await fetch(`/api/clients/${encodeURIComponent(id)}/kill`,
                          { method: "POST", headers: { "X-Shardis-Dashboard": "1" } });
    const body = await r.json();
    notice(r.ok ? `killed client ${body.killed} (${body.addr})` : `kill failed: ${body.error}`);
  } catch (e) {
    notice("kill failed: " + e);
  }
}

// ------------------------------------------------------------------ traces, slowlog
function stageBar(t) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "stages");
  svg.setAttribute("viewBox", "0 0 1000 12");
  svg.setAttribute("preserveAspectRatio", "none");
  const total = STAGES.reduce((a, [k]) => a + (t.stages_us[k] || 0), 0) || 1;
  let x = 0;
  for (const [k, label, color] of STAGES) {
    const v = t.stages_us[k] || 0;
    const w = (1000 * v) / total;
    const r = document.createElementNS(NS, "rect");
    r.setAttribute("x", String(x)); r.setAttribute("y", "0");
    r.setAttribute("width", String(Math.max(0, w))); r.setAttribute("height", "12");
    r.setAttribute("fill", color);
    const tt = document.createElementNS(NS, "title");
    tt.textContent = `${label}: ${fmtUs(v)}`;
    r.append(tt);
    svg.append(r);
    x += w;
  }
  return svg;
}

function renderTraces(traces, every) {
  const body = $("traces-body");
  body.replaceChildren(...traces.map(t => el("tr", null,
    el("td", { text: fmtTime(t.time) }),
    el("td", { class: "l", text: `${t.client} ${t.addr}` }),
    el("td", { class: "text", text: t.cmd }),
    el("td", { text: String(t.shard) }),
    el("td", { text: String(t.commands) }),
    el("td", { text: String(t.mailbox_at_exec) }),
    el("td", { text: fmtUs(t.total_us) }),
    el("td", { class: "wide", title: STAGES.map(([k, l]) => `${l}: ${fmtUs(t.stages_us[k])}`).join("\n") },
       stageBar(t)))));
  $("traces-info").textContent = every ? `(one batch in ${every}; newest first)` : "(tracing off)";
}

function renderSlowlog(entries) {
  $("slowlog-body").replaceChildren(...entries.map(e => el("tr", null,
    el("td", { text: fmtTime(e.start_us / 1e6) }),
    el("td", { text: String(e.shard) }),
    el("td", { text: fmtUs(e.duration_us) }),
    el("td", { class: "wide", text: e.args.join(" ") }))));
  $("slowlog-info").textContent = entries.length ? `(${entries.length}, newest first)` : "(empty)";
}

// ------------------------------------------------------------------ key inspector
function dl(pairs) {
  const d = el("dl");
  for (const [k, v] of pairs) d.append(el("dt", { text: k }), v instanceof Node ? el("dd", null, v) : el("dd", { text: String(v) }));
  return d;
}

async function inspectKey(db, key) {
  const out = $("key-result");
  out.replaceChildren(el("p", { class: "muted", text: "reading…" }));
  let r, body;
  try {
    r = await fetch(`/api/key?db=${encodeURIComponent(db)}&key=${encodeURIComponent(key)}`);
    body = await r.json();
  } catch (e) {
    out.replaceChildren(el("p", { class: "error", text: "request failed: " + e }));
    return;
  }
  if (body.error && body.shard === undefined) {
    out.replaceChildren(el("p", { class: "error", text: body.error }));
    return;
  }
  const pairs = [["key", body.key], ["db", body.db], ["shard", body.shard], ["slot", body.slot]];
  if (body.error) pairs.push(["error", body.error]);
  else if (!body.exists) pairs.push(["type", "none (no such key)"]);
  else {
    pairs.push(["type", body.type], ["encoding", body.encoding],
               ["ttl", body.ttl_ms < 0 ? "no expiry" : fmtUs(body.ttl_ms * 1000)],
               ["size", body.size === null ? "–" : String(body.size) + (body.type === "string" ? " bytes" : " elements")],
               ["memory (approx.)", fmtBytes(body.mem)]);
    const p = body.preview;
    let node;
    if (p.text !== undefined) node = el("pre", { text: p.text + (p.truncated ? " …" : "") });
    else node = el("pre", { text: p.items.map(x => Array.isArray(x) ? x.join("  →  ") : String(x)).join("\n") + (p.truncated ? "\n…" : "") });
    pairs.push(["value", node]);
  }
  out.replaceChildren(dl(pairs));
  out.dataset.key = body.key;
}

async function listKeys(db, match) {
  const ul = $("keys-list");
  try {
    const r = await fetch(`/api/keys?db=${encodeURIComponent(db)}&match=${encodeURIComponent(match)}&count=200`);
    const body = await r.json();
    if (!r.ok) { ul.replaceChildren(el("li", { class: "error", text: body.error })); return; }
    ul.replaceChildren(...body.keys.map(k => el("li", null, el("button", {
      type: "button", text: k.key, title: `${k.type} on shard ${k.shard}`,
      onclick: () => { $("key-name").value = k.key; inspectKey(db, k.key); },
    }))));
    if (!body.complete) ul.append(el("li", { class: "muted", text: "(more keys exist: narrow the pattern)" }));
  } catch (e) {
    ul.replaceChildren(el("li", { class: "error", text: "request failed: " + e }));
  }
}

// ------------------------------------------------------------------ stream
function onSample(d) {
  if (d.point) {
    state.points.push(d.point);
    if (state.points.length > MAX_POINTS) state.points.splice(0, state.points.length - MAX_POINTS);
  }
  renderActors(d.actors);
  renderClients(d.clients, d.clients_total);
  renderTraces(d.traces, d.actors.server.trace_every);
  renderSlowlog(d.slowlog);
  renderCharts();
  state.updates++;
  document.body.dataset.updates = String(state.updates);
  document.body.dataset.sample = String(d.actors.sample);
}

function connect() {
  const es = new EventSource("/api/stream");
  const live = $("live");
  es.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  es.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  es.addEventListener("history", e => {
    state.points = JSON.parse(e.data).points.slice(-MAX_POINTS);
    renderCharts();
  });
  es.addEventListener("sample", e => onSample(JSON.parse(e.data)));
}

function init() {
  for (const [k, label, color] of STAGES) {
    const i = el("i");
    i.style.background = color;   // CSSOM, allowed by the page's CSP
    $("trace-legend").append(el("span", null, i, label));
  }
  for (const th of document.querySelectorAll("#clients th[data-sort]")) {
    th.addEventListener("click", () => {
      const k = th.dataset.sort;
      if (state.sortKey === k) state.sortDir = -state.sortDir;
      else { state.sortKey = k; state.sortDir = 1; }
      applyClientView();
    });
  }
  $("clients-filter").addEventListener("input", e => {
    state.filter = e.target.value.trim().toLowerCase();
    applyClientView();
  });
  $("kill-dialog").addEventListener("close", onKillDialogClose);
  $("key-form").addEventListener("submit", e => {
    e.preventDefault();
    inspectKey($("key-db").value || "0", $("key-name").value);
  });
  $("keys-form").addEventListener("submit", e => {
    e.preventDefault();
    listKeys($("key-db").value || "0", $("keys-match").value || "*");
  });
  window.addEventListener("resize", renderCharts);
  renderCharts();
  connect();
}

document.addEventListener("DOMContentLoaded", init);
