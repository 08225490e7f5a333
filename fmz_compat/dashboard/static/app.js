// The robot page: status tables with buttons, charts, the log; live through server-sent events.
"use strict";

const TYPE_NAMES = {0: "buy", 1: "sell", 2: "cancel", 3: "error", 4: "profit", 5: "info", 6: "restart"};
const COLOR_SUFFIX = /#([0-9a-fA-F]{6})$/;
const view = {
  token: null, state: null, versions: {}, activeTabs: {}, charts: [],
  log: {offset: 0, limit: 50, types: "", venue: "", text: "", total: 0},
};
window.dashboard = view;  // tests and the console can look inside

// --- plumbing ---
function readToken() {
  const match = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("dashboard-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);  // keep it out of the address bar
  }
  return sessionStorage.getItem("dashboard-token");
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (view.token) headers["X-Dashboard-Token"] = view.token;
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (response.status === 401) {
    document.getElementById("auth-banner").hidden = false;
    throw new Error("unauthorized");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function colored(text) {
  // FMZ colours a string cell or log line with a trailing #rrggbb
  const str = String(text);
  const match = COLOR_SUFFIX.exec(str);
  if (!match) return document.createTextNode(str);
  return el("span", {style: `color:#${match[1]}`}, str.slice(0, match.index).trimEnd());
}

function utc(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

// --- state ---
async function loadState() {
  const state = await api("/api/state");
  view.state = state;
  document.getElementById("robot-id").textContent = state.robot_id ?? "-";
  document.title = `${state.strategy || "Robot"} · robot ${state.robot_id ?? ""} · ${state.state}`;
  const parts = [state.strategy, state.mode, (state.venues || []).join(", ")].filter(Boolean);
  if (state.ended_by && state.state !== "running") parts.push(state.ended_by);
  document.getElementById("robot-meta").textContent = parts.join(" · ");
  const badge = document.getElementById("robot-state");
  badge.textContent = state.state;
  badge.className = `state state-${state.state}`;
  const venueSelect = document.getElementById("log-venue");
  if (venueSelect.options.length !== (state.venues || []).length + 1) {
    venueSelect.replaceChildren(el("option", {value: ""}, "all venues"),
      ...(state.venues || []).map((name, i) => el("option", {value: String(i)}, `${i}: ${name}`)));
  }
  document.querySelectorAll("[data-command]").forEach((b) => { b.disabled = !state.commands; });
  document.querySelector("#command-form button").disabled = !state.commands;
  if (!state.commands) {
    note(state.state === "running" ? "read-only view: buttons work on the robot's own dashboard (--dashboard)"
      : "the robot is not running: buttons are off", false);
  }
}

// --- commands ---
function note(text, error) {
  const node = document.getElementById("command-note");
  node.textContent = text;
  node.className = error ? "note err" : "note";
}

async function sendCommand(command) {
  try {
    await api("/api/command", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({command})});
    note(`sent: ${command}`, false);
  } catch (err) {
    note(`not sent: ${err.message}`, true);
  }
}

function buttonFor(spec) {
  const classes = String(spec.class || "").split(/\s+/).filter((c) => /^btn-(danger|warning|success|xs|light)$/.test(c));
  const button = el("button", {class: ["btn", "btn-xs", ...classes].join(" "), "data-command": spec.cmd,
    type: "button"}, spec.name ?? spec.cmd);
  button.disabled = !(view.state && view.state.commands);
  button.addEventListener("click", () => {
    let command = String(spec.cmd);
    if (spec.input) {  // FMZ buttons with an input append ":value"
      const value = prompt(spec.input.name || spec.input.label || "value", spec.input.defValue ?? "");
      if (value === null) return;
      command = `${command}:${value}`;
    }
    sendCommand(command);
  });
  return button;
}

// --- status ---
function cell(value, tag) {
  const td = el(tag);
  if (value && typeof value === "object" && !Array.isArray(value)) {
    if (value.type === "button") {
      td.append(buttonFor(value));
      return td;
    }
    if ("body" in value) {  // {body, colspan, rowspan}
      if (value.colspan) td.colSpan = value.colspan;
      if (value.rowspan) td.rowSpan = value.rowspan;
      return fill(td, value.body);
    }
  }
  if (Array.isArray(value) && value.every((v) => v && v.type === "button")) {
    value.forEach((v) => td.append(buttonFor(v), " "));
    return td;
  }
  return fill(td, value);
}

function fill(td, value) {
  if (typeof value === "number") td.className = "num";
  if (value !== null && typeof value === "object") value = JSON.stringify(value);
  td.append(colored(value ?? ""));
  return td;
}

function renderTable(table) {
  const head = el("tr", {}, ...(table.cols || []).map((c) => cell(c, "th")));
  const rows = (table.rows || []).map((row) => el("tr", {}, ...(Array.isArray(row) ? row : [row]).map((c) => cell(c, "td"))));
  return el("table", {class: "status"}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function renderTables(tables, blockIndex) {
  const wrap = el("div", {class: "tables"});
  if (tables.length === 1) {
    const t = tables[0];
    wrap.append(el("div", {class: "tab-body single"}, t.title ? el("div", {class: "table-title"}, t.title) : null,
      renderTable(t)));
    return wrap;
  }
  const key = `block${blockIndex}`;
  const titles = tables.map((t, i) => t.title || `table ${i + 1}`);
  let active = titles.indexOf(view.activeTabs[key]);
  if (active < 0) active = 0;
  const bar = el("div", {class: "tabs", role: "tablist"});
  const body = el("div", {class: "tab-body"}, renderTable(tables[active]));
  titles.forEach((title, i) => {
    bar.append(el("button", {class: i === active ? "tab active" : "tab", role: "tab", type: "button",
      onclick: () => { view.activeTabs[key] = title; loadStatus(); }}, title));
  });
  wrap.append(bar, body);
  return wrap;
}

async function loadStatus() {
  const ticket = (view.statusTicket = (view.statusTicket || 0) + 1);
  const status = await api("/api/status");
  if (ticket !== view.statusTicket) return;  // answers can arrive out of order: draw the newest only
  const root = document.getElementById("status");
  const nodes = status.blocks.map((block, i) => {
    if (block.kind === "tables") return renderTables(block.tables, i);
    if (block.kind === "button") return el("div", {}, buttonFor(block.button));
    const pre = el("pre", {class: "status-text"});
    block.text.split("\n").forEach((line, j) => { if (j) pre.append("\n"); pre.append(colored(line)); });
    return pre;
  });
  root.replaceChildren(...(nodes.length ? nodes : [el("div", {class: "empty"}, "(no LogStatus yet)")]));
}

// --- charts ---
async function loadCharts() {
  const ticket = (view.chartTicket = (view.chartTicket || 0) + 1);
  const body = await api("/api/charts");
  if (ticket !== view.chartTicket) return;
  const figures = [...body.figures];
  if (body.profit) figures.push(body.profit);
  const root = document.getElementById("charts");
  if (!figures.length) {
    view.charts.forEach((c) => c.dispose());
    view.charts = [];
    root.replaceChildren(el("div", {class: "empty", style: "grid-column: span 12"}, "(no Chart() or LogProfit yet)"));
    return;
  }
  if (view.charts.length !== figures.length) {
    view.charts.forEach((c) => c.dispose());
    root.replaceChildren();
    view.charts = figures.map((fig) => {
      const layout = fig._fmz || {col: 12, height: 360};
      const box = el("div", {class: "chart-box", style: `grid-column: span ${layout.col}`});
      const div = el("div", {class: "chart", style: `height:${layout.height}px`});
      box.append(div);
      root.append(box);
      return echarts.init(div, null, {renderer: "canvas"});
    });
  }
  view.shapes = view.shapes || [];
  figures.forEach((fig, i) => {
    const option = Object.assign({useUTC: true}, fig);
    delete option._fmz;
    // chart.update(cfg) changed the options: redraw from scratch; new points only: merge (keeps the zoom)
    const shape = JSON.stringify(Object.assign({}, option, {series: option.series.map((s) => s.name + s.type)}));
    const changed = view.shapes[i] !== shape;
    view.shapes[i] = shape;
    view.charts[i].setOption(option, changed ? {notMerge: true} : {replaceMerge: ["series"]});
  });
}

window.addEventListener("resize", () => view.charts.forEach((c) => c.resize()));

// --- log ---
async function loadLogs() {
  const q = view.log;
  const params = new URLSearchParams({offset: q.offset, limit: q.limit});
  if (q.types) params.set("types", q.types);
  if (q.venue !== "") params.set("venue", q.venue);
  if (q.text) params.set("text", q.text);
  const ticket = (q.ticket = (q.ticket || 0) + 1);
  const body = await api(`/api/logs?${params}`);
  if (ticket !== q.ticket) return;  // a newer request (another filter, a live refresh) is on its way
  q.total = body.total;
  const venues = (view.state && view.state.venues) || [];
  const rows = body.rows.map((r) => el("tr", {class: r.LogType === 3 ? "row-error" : ""},
    el("td", {class: "time"}, utc(r.Date)),
    el("td", {}, el("span", {class: `lt lt-${r.LogType}`}, TYPE_NAMES[r.LogType] ?? r.LogType)),
    el("td", {}, r.Eid === null || r.Eid === undefined ? "" : (venues[r.Eid] || `#${r.Eid}`)),
    el("td", {class: "num"}, r.Price ? r.Price : ""),
    el("td", {class: "num"}, r.Amount ? r.Amount : ""),
    el("td", {class: "msg", style: r.Color ? `color:${r.Color}` : ""}, r.Extra)));
  document.getElementById("log-rows").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", {colspan: 6, class: "empty"}, "(no rows)"))]));
  document.getElementById("log-total").textContent = `(${body.total.toLocaleString("en")} rows)`;
  const last = Math.min(q.offset + q.limit, body.total);
  document.getElementById("log-page").textContent = body.total ? `${q.offset + 1}–${last} of ${body.total}` : "";
  document.getElementById("log-newer").disabled = q.offset === 0;
  document.getElementById("log-newest").disabled = q.offset === 0;
  document.getElementById("log-older").disabled = last >= body.total;
}

function bindLogControls() {
  const reload = () => { view.log.offset = 0; loadLogs().catch(() => {}); };
  document.getElementById("log-type").addEventListener("change", (e) => { view.log.types = e.target.value; reload(); });
  document.getElementById("log-venue").addEventListener("change", (e) => { view.log.venue = e.target.value; reload(); });
  document.getElementById("log-limit").addEventListener("change", (e) => { view.log.limit = Number(e.target.value); reload(); });
  let timer = null;
  document.getElementById("log-text").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { view.log.text = e.target.value; reload(); }, 250);
  });
  document.getElementById("log-newest").addEventListener("click", reload);
  document.getElementById("log-newer").addEventListener("click", () => {
    view.log.offset = Math.max(0, view.log.offset - view.log.limit); loadLogs();
  });
  document.getElementById("log-older").addEventListener("click", () => {
    view.log.offset += view.log.limit; loadLogs();
  });
  document.getElementById("command-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("command-input");
    if (input.value.trim()) sendCommand(input.value.trim());
    input.value = "";
  });
}

// --- live updates ---
function applyVersions(versions) {
  const old = view.versions;
  view.versions = versions;
  const changed = (key) => old[key] !== versions[key];
  if (changed("state")) loadState().catch(() => {});
  if (changed("status")) loadStatus().catch(() => {});
  if (changed("chart") || changed("profit")) loadCharts().catch(() => {});
  if (changed("log") && view.log.offset === 0) loadLogs().catch(() => {});
}

function connect() {
  const live = document.getElementById("live");
  const url = "/api/events" + (view.token ? `?token=${encodeURIComponent(view.token)}` : "");
  const source = new EventSource(url);
  source.onopen = () => live.classList.add("on");
  source.onmessage = (event) => applyVersions(JSON.parse(event.data).versions);
  source.onerror = () => {
    live.classList.remove("on");
    source.close();
    setTimeout(connect, 2000);
  };
}

async function start() {
  view.token = readToken();
  bindLogControls();
  try {
    await loadState();
    await Promise.all([loadStatus(), loadCharts(), loadLogs()]);
  } catch (err) {
    if (err.message !== "unauthorized") note(err.message, true);
    return;
  }
  connect();
}

window.addEventListener("hashchange", () => { if (/token=/.test(location.hash)) location.reload(); });
start();
