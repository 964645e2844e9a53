// The analytics page: GET /api/analytics drawn as three SVG charts (created
// vs resolved as lines, the backlog as an area, the backlog now by age as
// bars stacked by priority), each with its figures as a table behind a
// toggle, plus the headline figures and SLA compliance.
//
// Staff sign in as on the board (session.js: the token lives in this tab's
// sessionStorage, so arriving from the board's staff panel needs no second
// sign-in); the token goes as `Authorization: Bearer` with each request.
//
// Live: the page follows /ws (connection.js) and asks again when a change
// event arrives, at most once per REFRESH_GAP_MS however many arrive. It
// connects as a resume from where the stream stands now (GET /api/changes
// without parameters), so the server sends no first sync of tickets this
// page has no use for.
//
// The SVG is made element by element (no innerHTML, no inline style: the
// page runs under a strict CSP); every colour comes from analytics.css.

import { Connection } from "./connection.js";
import { Session } from "./session.js";

const $ = (id) => document.getElementById(id);

const SVG = "http://www.w3.org/2000/svg";
/** The shortest gap between two loads caused by live changes. */
const REFRESH_GAP_MS = 2000;
const PRIORITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const PRIORITY_LABELS = { CRITICAL: "Critical", HIGH: "High", MEDIUM: "Medium", LOW: "Low" };
const BAND_LABELS = { "0-1d": "Under 1 day", "1-3d": "1–3 days", "3-7d": "3–7 days", "7d+": "Over 7 days" };
/** The chart's drawing box (the SVG scales to its container). */
const W = 480;
const H = 230;
const PAD = { top: 16, right: 12, bottom: 30, left: 38 };

const main = $("analytics");
const session = new Session(onSession);
let connection = null;
/** The last report drawn. */
let report = null;
let renders = 0;

// ---------------------------------------------------------------- session

/** Whether the page has shown a signed-in or signed-out state yet. */
let sessionShown = false;

function onSession(current, reason) {
  sessionShown = true;
  $("signin").hidden = Boolean(current);
  $("report").hidden = !current;
  $("logout-button").hidden = !current;
  $("who").hidden = !current;
  if (!current) {
    main.dataset.state = "signed-out";
    $("login-status").textContent = reason ?? "";
    $("login-status").className = reason ? "form-status warn" : "form-status";
    return;
  }
  $("who").textContent = `${current.user} · ${current.role === "admin" ? "Admin" : "Agent"}`;
  load();
  startLive();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const username = $("l-username").value.trim();
  const password = $("l-password").value;
  const status = $("login-status");
  if (!username || !password) {
    status.textContent = "Enter your username and password.";
    status.className = "form-status error";
    return;
  }
  $("login-button").disabled = true;
  status.textContent = "Signing in…";
  status.className = "form-status";
  try {
    await session.login(username, password);
    $("l-password").value = "";
  } catch (err) {
    status.textContent = err.message;
    status.className = "form-status error";
  } finally {
    $("login-button").disabled = false;
  }
});

$("logout-button").addEventListener("click", () => session.logout());

// ---------------------------------------------------------------- loading

let loading = false;
let queued = false;
let lastLoad = 0;
let refreshTimer = null;

/** The report's parameters, from the page's URL (only those the API takes). */
function query() {
  const url = new URLSearchParams(location.search);
  const params = new URLSearchParams();
  for (const name of ["from", "to", "bucket"]) {
    const value = url.get(name);
    if (value) params.set(name, value);
  }
  return params;
}

/** Loads again soon: at once if the last load is REFRESH_GAP_MS old, else when it will be. */
function scheduleRefresh() {
  if (refreshTimer !== null) return;
  const wait = Math.max(0, lastLoad + REFRESH_GAP_MS - Date.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    load();
  }, wait);
}

async function load() {
  const token = session.token;
  if (!token) return;
  if (loading) {
    queued = true;
    return;
  }
  loading = true;
  lastLoad = Date.now();
  try {
    const response = await fetch(`/api/analytics?${query()}`, {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
    });
    if (response.status === 401) {
      if (session.token === token) session.end("Your session has ended. Sign in again.");
      return;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || !body) {
      showStatus(body?.error?.message ?? `The figures could not be loaded (HTTP ${response.status}).`, "error");
      if (!report) main.dataset.state = "error";
      return;
    }
    showStatus("", "");
    render(body);
  } catch {
    showStatus("The server cannot be reached; the figures shown may be out of date.", "error");
  } finally {
    loading = false;
    if (queued) {
      queued = false;
      scheduleRefresh();
    }
  }
}

function showStatus(text, kind) {
  const status = $("range-status");
  status.textContent = text;
  status.className = `form-status an-range-status${kind ? ` ${kind}` : ""}`;
}

// ---------------------------------------------------------------- live

function startLive() {
  if (connection) return;
  let synced = false;
  connection = new Connection({
    onEvent: (event, _data, meta) => {
      if (!session.token) return;
      if (meta.v !== undefined) {
        scheduleRefresh();
      } else if (event === "sync_state") {
        // After a reconnection changes may have been missed: ask again.
        if (synced) scheduleRefresh();
        synced = true;
      }
    },
    onState: (state, detail) => {
      const conn = $("conn");
      conn.className = `conn ${state}`;
      conn.dataset.state = state;
      const text = { connecting: "Connecting…", connected: "Live", reconnecting: "Reconnecting", offline: "Offline" }[state] ?? state;
      $("conn-text").textContent = detail && state !== "connected" ? `${text} (${detail})` : text;
    },
  });
  // Resume from where the stream stands: no first sync of every ticket.
  fetch("/api/changes", { cache: "no-store" })
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null)
    .then((where) => {
      if (where && typeof where.epoch === "string" && Number.isSafeInteger(where.v)) {
        connection.epoch = where.epoch;
        connection.version = where.v;
      }
      connection.start();
    });
}

// ---------------------------------------------------------------- range form

$("range").addEventListener("submit", (e) => {
  e.preventDefault();
  const params = new URLSearchParams();
  const from = $("r-from").value;
  const to = $("r-to").value;
  const bucket = $("r-bucket").value;
  if (from && to && from > to) {
    showStatus("From must be on or before To.", "error");
    return;
  }
  if (from) params.set("from", from);
  if (to) params.set("to", to);
  if (bucket !== "day") params.set("bucket", bucket);
  const search = params.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
  load();
});

$("range-reset").addEventListener("click", () => {
  history.replaceState(null, "", location.pathname);
  load();
});

// ---------------------------------------------------------------- table toggles

for (const button of document.querySelectorAll(".an-toggle")) {
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide table" : "Show table";
    $(button.getAttribute("aria-controls")).hidden = !open;
  });
}

// ---------------------------------------------------------------- formatting

/** A UTC date as YYYY-MM-DD. */
function isoDay(t) {
  return new Date(t).toISOString().slice(0, 10);
}

/** A short axis label: "3 Dec". */
function shortDay(t) {
  return new Date(t).toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
}

function duration(secs) {
  if (secs === null || secs === undefined) return "–";
  if (secs < 60) return `${secs} s`;
  const minutes = Math.round(secs / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(secs / 3600);
  if (hours < 24) {
    const m = Math.round((secs % 3600) / 60);
    return m ? `${hours} h ${m} min` : `${hours} h`;
  }
  const days = Math.floor(secs / 86400);
  const h = Math.round((secs % 86400) / 3600);
  return h ? `${days} d ${h} h` : `${days} d`;
}

function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)} %`;
}

// ---------------------------------------------------------------- render

function render(data) {
  report = data;
  renders += 1;
  const unit = data.bucket === "week" ? "week" : "day";
  for (const el of document.querySelectorAll(".an-unit")) el.textContent = unit;
  for (const el of document.querySelectorAll(".an-unit-head")) el.textContent = unit === "week" ? "Week from" : "Day";

  // The period shown, in the form (the last day is the one before `to`'s
  // midnight), unless someone is editing it.
  const editing = document.activeElement;
  if (!(editing?.form === $("range") && editing.tagName !== "BUTTON")) {
    $("r-from").value = isoDay(data.from);
    $("r-to").value = isoDay(Date.parse(data.to) - 1);
    $("r-bucket").value = data.bucket;
  }

  $("k-created").textContent = String(data.totals.created);
  $("k-resolved").textContent = String(data.totals.resolved);
  $("k-backlog").textContent = String(data.backlog_now.total);
  $("k-resolve").textContent = `${duration(data.time_to_resolve.median_secs)} · ${duration(data.time_to_resolve.p90_secs)}`;
  $("k-response").textContent = `${duration(data.time_to_first_response.median_secs)} · ${duration(data.time_to_first_response.p90_secs)}`;
  $("k-reopen").textContent = percent(data.reopen.rate);
  const r = data.reopen;
  $("k-reopen-note").textContent =
    `${r.reopened} of ${r.resolved} resolved in the period had been reopened` +
    (r.open_after_reopen ? `; ${r.open_after_reopen} reopened ${r.open_after_reopen === 1 ? "ticket is" : "tickets are"} being worked again.` : ".");
  $("updated").textContent = `As of ${new Date(data.as_of).toLocaleTimeString()}`;

  drawFlow(data);
  drawBacklog(data);
  drawAge(data);
  fillTables(data);

  main.dataset.state = "ready";
  main.dataset.renders = String(renders);
}

// ---------------------------------------------------------------- SVG

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs ?? {})) el.setAttribute(key, String(value));
  parent?.appendChild(el);
  return el;
}

/** An empty chart with an accessible name; replaces what `container` held. */
function chart(container, label) {
  const id = `${container.id}-title`;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": id });
  svgEl("title", { id }, svg).textContent = label;
  container.replaceChildren(svg);
  return svg;
}

/** Round ticks from 0 to at least `max`, whole numbers. */
function ticks(max) {
  if (max <= 0) return [0, 1];
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw));
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(v);
  return out;
}

/** The y axis (gridlines and labels) for values up to `max`; returns the scale. */
function yAxis(svg, max) {
  const marks = ticks(max);
  const top = marks[marks.length - 1];
  const y = (v) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / top);
  for (const v of marks) {
    svgEl("line", { class: "an-gridline", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }, svg);
    svgEl("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, svg).textContent = String(v);
  }
  return y;
}

/** x positions for `n` points across the plot, and labels for some of them. */
function xAxis(svg, buckets) {
  const n = buckets.length;
  const width = W - PAD.left - PAD.right;
  const x = (i) => PAD.left + (n === 1 ? width / 2 : (i * width) / (n - 1));
  const every = Math.max(1, Math.ceil(n / 6));
  buckets.forEach((b, i) => {
    if (i % every !== 0) return;
    const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
    svgEl("text", { x: x(i).toFixed(1), y: H - 8, "text-anchor": anchor }, svg).textContent = shortDay(b.start);
  });
  svgEl("line", { class: "an-axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }, svg);
  return x;
}

function points(values, x, y) {
  return values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
}

function drawFlow(data) {
  const b = data.buckets;
  const svg = chart(
    $("c-flow"),
    `Tickets created and resolved per ${data.bucket}, ${isoDay(data.from)} to ${isoDay(Date.parse(data.to) - 1)}: ${data.totals.created} created, ${data.totals.resolved} resolved.`,
  );
  const y = yAxis(svg, Math.max(...b.map((d) => Math.max(d.created, d.resolved)), 0));
  const x = xAxis(svg, b);
  for (const series of ["created", "resolved"]) {
    const values = b.map((d) => d[series]);
    svgEl("polyline", { class: `an-line ${series}`, points: points(values, x, y) }, svg);
    values.forEach((v, i) => {
      const dot = svgEl("circle", { class: `an-dot ${series}`, cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: b.length > 60 ? 1.5 : 3 }, svg);
      svgEl("title", {}, dot).textContent = `${isoDay(b[i].start)}: ${v} ${series}`;
    });
  }
}

function drawBacklog(data) {
  const shown = data.buckets.filter((d) => d.backlog !== null);
  const svg = chart(
    $("c-backlog"),
    `Backlog at the end of each ${data.bucket}` + (shown.length ? `, ${shown[shown.length - 1].backlog} at the last.` : "."),
  );
  const y = yAxis(svg, Math.max(...shown.map((d) => d.backlog), 0));
  const x = xAxis(svg, data.buckets);
  if (!shown.length) return;
  const values = shown.map((d) => d.backlog);
  const line = points(values, x, y);
  const base = y(0).toFixed(1);
  const first = x(0).toFixed(1);
  const last = x(values.length - 1).toFixed(1);
  svgEl("path", { class: "an-area", d: `M ${first},${base} L ${line.replaceAll(" ", " L ")} L ${last},${base} Z` }, svg);
  svgEl("polyline", { class: "an-line backlog", points: line }, svg);
  values.forEach((v, i) => {
    const dot = svgEl("circle", { class: "an-dot backlog", cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 6, opacity: 0 }, svg);
    svgEl("title", {}, dot).textContent = `${isoDay(shown[i].start)}: ${v} not resolved`;
  });
}

function drawAge(data) {
  const bands = data.backlog_now.by_age;
  const svg = chart(
    $("c-age"),
    `Open tickets now by age: ${bands.map((b) => `${BAND_LABELS[b.band] ?? b.band} ${b.total}`).join(", ")}.`,
  );
  const y = yAxis(svg, Math.max(...bands.map((b) => b.total), 0));
  const width = W - PAD.left - PAD.right;
  const slot = width / bands.length;
  const barWidth = Math.min(70, slot * 0.6);
  svgEl("line", { class: "an-axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }, svg);
  bands.forEach((band, i) => {
    const left = PAD.left + slot * i + (slot - barWidth) / 2;
    let below = 0;
    // Lowest priority at the bottom, critical on top.
    for (const p of [...PRIORITIES].reverse()) {
      const n = band.by_priority[p] ?? 0;
      if (!n) continue;
      const rect = svgEl(
        "rect",
        { class: `an-bar ${p.toLowerCase()}`, x: left.toFixed(1), y: y(below + n).toFixed(1), width: barWidth.toFixed(1), height: (y(below) - y(below + n)).toFixed(1) },
        svg,
      );
      svgEl("title", {}, rect).textContent = `${BAND_LABELS[band.band] ?? band.band}: ${n} ${PRIORITY_LABELS[p]}`;
      below += n;
    }
    svgEl("text", { class: "an-total", x: (left + barWidth / 2).toFixed(1), y: (y(band.total) - 5).toFixed(1), "text-anchor": "middle" }, svg).textContent =
      String(band.total);
    svgEl("text", { x: (left + barWidth / 2).toFixed(1), y: H - 8, "text-anchor": "middle" }, svg).textContent = BAND_LABELS[band.band] ?? band.band;
  });
}

// ---------------------------------------------------------------- tables

function row(cells, attrs) {
  const tr = document.createElement("tr");
  for (const [key, value] of Object.entries(attrs ?? {})) tr.dataset[key] = value;
  cells.forEach((text, i) => {
    const cell = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) cell.scope = "row";
    cell.textContent = String(text);
    tr.appendChild(cell);
  });
  return tr;
}

function fillTables(data) {
  $("t-flow").tBodies[0].replaceChildren(
    ...data.buckets.map((b) => row([isoDay(b.start), b.created, b.resolved], { start: b.start })),
  );
  $("t-backlog").tBodies[0].replaceChildren(
    ...data.buckets.map((b) => row([isoDay(b.start), b.backlog ?? "–"], { start: b.start })),
  );
  $("t-age").tBodies[0].replaceChildren(
    ...data.backlog_now.by_age.map((b) =>
      row([BAND_LABELS[b.band] ?? b.band, ...PRIORITIES.map((p) => b.by_priority[p] ?? 0), b.total], { band: b.band }),
    ),
    row(["All", ...PRIORITIES.map((p) => data.backlog_now.by_age.reduce((n, b) => n + (b.by_priority[p] ?? 0), 0)), data.backlog_now.total], { band: "all" }),
  );
  const sla = (c) => (c.completed ? `${percent(c.compliance)} (${c.met}/${c.completed})` : "–");
  $("t-sla").tBodies[0].replaceChildren(
    ...PRIORITIES.map((p) => {
      const c = data.sla.by_priority[p];
      return row([PRIORITY_LABELS[p], sla(c.first_response), sla(c.resolution)], { priority: p });
    }),
    row(["All", sla(data.sla.all.first_response), sla(data.sla.all.resolution)], { priority: "all" }),
  );
}

// ---------------------------------------------------------------- start

session.restore().then(() => {
  if (!sessionShown) onSession(null);
});
