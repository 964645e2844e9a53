// The live ticket board. Data flows one way: the Connection hands every
// server event to `apply*`, which updates `tickets` (the truth) and then the
// list items keyed by ticket id; user actions only send requests and wait for
// the server's broadcast to change the page.
//
// Modules: connection.js (WebSocket, backoff, refs), ticket-view.js (one
// ticket's DOM, text only), filters.js (filters <-> URL), fields.js (the
// submit form's rules), session.js (admin sign-in), time.js (ages).

import { Connection } from "./connection.js";
import { check, fieldOf, length, LIMITS } from "./fields.js";
import * as filtering from "./filters.js";
import { Session } from "./session.js";
import { createItem, el, fillItem, PRIORITIES, priorityBadge } from "./ticket-view.js";
import { refreshAges, until } from "./time.js";

const $ = (id) => document.getElementById(id);

/** Categories the analyzer knows; others seen on the wire are added. */
const CATEGORIES = ["network", "hardware", "software", "security", "access", "database", "email", "printing", "telephony", "infrastructure"];

/** request_id -> ticket, as the server last told us. */
let tickets = new Map();
/** request_id -> its <li>. */
const items = new Map();
let loadedOnce = false;
let filters = filtering.fromUrl();
let adminView = false;

const list = $("ticket-list");

// ---------------------------------------------------------------- tickets

function byNewest(a, b) {
  return b.created_at.localeCompare(a.created_at) || b.request_id.localeCompare(a.request_id);
}

function upsert(ticket, { animate = false, flash = false } = {}) {
  const known = tickets.get(ticket.request_id);
  tickets.set(ticket.request_id, ticket);
  let li = items.get(ticket.request_id);
  if (li) {
    if (JSON.stringify(known) !== JSON.stringify(ticket)) {
      fillItem(li, ticket, adminView);
      if (flash) restartAnimation(li, "flash");
    }
    return;
  }
  li = createItem(ticket, adminView);
  items.set(ticket.request_id, li);
  if (animate) li.classList.add("entering");
  insertInOrder(li, ticket);
}

function insertInOrder(li, ticket) {
  // Newest first: before the first item that is older.
  for (const other of list.children) {
    const t = tickets.get(other.dataset.id);
    if (t && byNewest(ticket, t) < 0) {
      list.insertBefore(li, other);
      return;
    }
  }
  list.append(li);
}

function remove(id) {
  tickets.delete(id);
  const li = items.get(id);
  items.delete(id);
  if (!li) return;
  if (li.contains(document.activeElement)) $("board").focus();
  li.classList.add("leaving");
  li.setAttribute("aria-hidden", "true");
  setTimeout(() => li.remove(), 220);
}

function restartAnimation(node, className) {
  node.classList.remove(className);
  void node.offsetWidth;
  node.classList.add(className);
}

/** A full resync: the server's list replaces ours, with no duplicate and nothing lost. */
function applyInitial(all) {
  const fresh = new Map(all.map((t) => [t.request_id, t]));
  for (const id of [...items.keys()]) if (!fresh.has(id)) remove(id);
  for (const t of [...fresh.values()].sort(byNewest)) upsert(t, { animate: loadedOnce });
  tickets = fresh;
  loadedOnce = true;
  refresh();
}

function applyEvent(event, data) {
  switch (event) {
    case "initial_tickets":
      applyInitial(data);
      connection.request("get_stats").catch(() => {});
      return;
    case "new_ticket":
      upsert(data, { animate: true });
      break;
    case "ticket_updated":
    case "ticket_resolved":
      upsert(data, { flash: true });
      break;
    case "ticket_deleted":
      remove(data.ticket_id);
      break;
    case "all_tickets_cleared":
      for (const id of [...items.keys()]) remove(id);
      tickets.clear();
      break;
    case "stats_update":
      renderStats(data);
      return;
    case "error":
      // An error without a ref we are waiting for (e.g. rate limiting).
      toast(data.message, "error");
      return;
    default:
      return;
  }
  refresh();
}

// ---------------------------------------------------------------- filters

function refresh() {
  let shown = 0;
  for (const [id, li] of items) {
    const visible = filtering.matches(tickets.get(id), filters);
    li.hidden = !visible;
    if (visible) shown += 1;
  }
  const total = tickets.size;
  $("shown").textContent = !loadedOnce ? "" : filtering.isActive(filters) ? `${shown} of ${total} shown` : `${total} ${total === 1 ? "ticket" : "tickets"}`;
  const empty = $("empty");
  empty.hidden = !loadedOnce || shown > 0;
  empty.textContent = total === 0 ? "No tickets yet. Submit the first one with the form." : "No ticket matches these filters.";
  $("filters-reset").hidden = !filtering.isActive(filters);
  for (const chip of document.querySelectorAll(".stat-chip")) {
    chip.setAttribute("aria-pressed", String(filters[chip.dataset.filterKey] === chip.dataset.filterValue));
  }
  ensureCategories([...tickets.values()].map((t) => t.analysis.category));
}

function ensureCategories(names) {
  const select = $("fl-category");
  const have = new Set([...select.options].map((o) => o.value));
  for (const name of names) {
    if (!name || have.has(name)) continue;
    const option = el("option", "", name.charAt(0).toUpperCase() + name.slice(1));
    option.value = name;
    select.append(option);
    have.add(name);
  }
}

function showFilters() {
  $("q").value = filters.q;
  $("fl-status").value = filters.status;
  $("fl-priority").value = filters.priority;
  ensureCategories([filters.category]);
  $("fl-category").value = filters.category;
}

function readFilters() {
  filters = {
    q: $("q").value.trim(),
    status: $("fl-status").value,
    priority: $("fl-priority").value,
    category: $("fl-category").value,
  };
  filtering.toUrl(filters);
  refresh();
}

function setFilter(key, value) {
  filters = { ...filters, [key]: filters[key] === value ? "" : value };
  showFilters();
  filtering.toUrl(filters);
  refresh();
}

// ---------------------------------------------------------------- stats

function renderStats(stats) {
  $("s-total").textContent = stats.total;
  $("s-open").textContent = stats.open;
  $("s-resolved").textContent = stats.resolved;

  const byPriority = $("s-priority");
  byPriority.replaceChildren(
    ...PRIORITIES.map((p) => statChip(priorityBadge(p), stats.by_priority?.[p] ?? 0, "priority", p)),
  );
  const categories = Object.entries(stats.by_category ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  ensureCategories(categories.map(([c]) => c));
  const byCategory = $("s-category");
  if (categories.length === 0) byCategory.replaceChildren(el("li", "muted", "None yet"));
  else byCategory.replaceChildren(...categories.map(([c, n]) => statChip(el("span", "chip-name", c), n, "category", c)));
}

function statChip(label, count, key, value) {
  const li = el("li");
  const button = el("button", "stat-chip");
  button.type = "button";
  button.dataset.filterKey = key;
  button.dataset.filterValue = value;
  button.setAttribute("aria-pressed", String(filters[key] === value));
  button.title = `Show only ${value}`;
  button.append(label, el("span", "count", count));
  li.append(button);
  return li;
}

// ---------------------------------------------------------------- the form

const form = $("submit-form");
const FIELDS = ["description", "system", "requester"];
const touched = new Set();

function showFieldError(field, message) {
  const input = form.elements[field];
  input.setAttribute("aria-invalid", message ? "true" : "false");
  $(`f-${field}-error`).textContent = message;
}

function validate(field) {
  const message = check(field, form.elements[field].value);
  showFieldError(field, message);
  return message === "";
}

function updateCounter() {
  const n = length(form.elements.description.value.trim());
  const hint = $("f-description-hint");
  hint.textContent = `${n} / ${LIMITS.description}`;
  hint.classList.toggle("over", n > LIMITS.description);
}

function setFormStatus(text, kind = "") {
  const status = $("form-status");
  status.textContent = text;
  status.className = `form-status ${kind}`;
}

for (const field of FIELDS) {
  const input = form.elements[field];
  input.addEventListener("input", () => {
    if (field === "description") updateCounter();
    if (touched.has(field)) validate(field);
  });
  input.addEventListener("blur", () => {
    if (input.value !== "") touched.add(field);
    if (touched.has(field)) validate(field);
  });
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  setFormStatus("");
  FIELDS.forEach((f) => touched.add(f));
  const invalid = FIELDS.filter((f) => !validate(f));
  if (invalid.length) {
    form.elements[invalid[0]].focus();
    return;
  }
  const data = Object.fromEntries(FIELDS.map((f) => [f, form.elements[f].value]));
  const button = $("submit-button");
  button.disabled = true;
  button.textContent = "Submitting…";
  try {
    const { data: reply } = await connection.request("submit_ticket", data);
    form.reset();
    touched.clear();
    FIELDS.forEach((f) => showFieldError(f, ""));
    updateCounter();
    setFormStatus("Ticket submitted.", "ok");
    const li = items.get(reply.request_id);
    if (li) restartAnimation(li, "flash");
  } catch (error) {
    const field = fieldOf(error.message);
    if (error.code === "disconnected") {
      setFormStatus("The connection dropped before the server confirmed the ticket. Check the list once reconnected before sending it again.", "error");
    } else if (field) {
      showFieldError(field, error.message);
      form.elements[field].focus();
    } else {
      setFormStatus(error.message, "error");
    }
  } finally {
    button.disabled = false;
    button.textContent = "Submit ticket";
  }
});

// ---------------------------------------------------------------- admin

const session = new Session(onSession);

function onSession(current, reason) {
  const signedIn = current !== null;
  $("login-form").hidden = signedIn;
  $("admin-panel").hidden = !signedIn;
  $("admin-summary").textContent = signedIn ? `Admin · ${current.admin}` : "Admin sign-in";
  const badge = $("admin-badge");
  badge.hidden = !signedIn;
  if (signedIn) {
    $("admin-name").textContent = current.admin;
    badge.textContent = current.admin;
    badge.title = `Signed in as ${current.admin}`;
    showExpiry();
  } else {
    $("login-form").reset();
  }
  if (reason) {
    $("admin").open = true;
    toast(reason, "warn");
    $("login-status").textContent = reason;
    $("login-status").className = "form-status warn";
  }
  if (adminView !== signedIn) {
    adminView = signedIn;
    for (const [id, li] of items) fillItem(li, tickets.get(id), adminView);
  }
}

function showExpiry() {
  const expiresAt = session.current?.expiresAt;
  if (!expiresAt) return;
  const time = $("admin-expiry");
  time.dateTime = expiresAt;
  time.textContent = until(expiresAt);
  time.classList.toggle("soon", Date.parse(expiresAt) - Date.now() < 2 * 60_000);
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const username = $("l-username").value.trim();
  const password = $("l-password").value;
  const status = $("login-status");
  if (!username || !password) {
    status.textContent = "Enter a username and a password.";
    status.className = "form-status error";
    (username ? $("l-password") : $("l-username")).focus();
    return;
  }
  const button = $("login-button");
  button.disabled = true;
  status.textContent = "Signing in…";
  status.className = "form-status";
  try {
    await session.login(username, password);
    status.textContent = "";
    $("logout-button").focus();
  } catch (error) {
    status.textContent = error.message;
    status.className = "form-status error";
    $("l-password").select();
  } finally {
    button.disabled = false;
  }
});

$("logout-button").addEventListener("click", async () => {
  await session.logout();
  toast("Signed out.");
  $("l-username").focus();
});

async function adminCommand(command, fields = {}) {
  const token = session.token;
  if (!token) {
    toast("Sign in as an admin first.", "warn");
    return false;
  }
  try {
    const { data } = await connection.request("admin_command", { command, token, ...fields });
    toast(data.message, "ok");
    return true;
  } catch (error) {
    if (error.code === "unauthorized") session.end("Your admin session is no longer valid. Sign in again.");
    else toast(error.message, "error");
    return false;
  }
}

list.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  const id = button.closest("li[data-id]").dataset.id;
  if (button.dataset.action === "toggle") {
    await adminCommand(button.dataset.command, { ticket_id: id });
  } else if (button.dataset.action === "delete") {
    const t = tickets.get(id);
    const ok = await confirmDialog(
      "Delete this ticket?",
      `“${shorten(t?.request_details.description ?? id)}” will be removed for everyone. This cannot be undone.`,
      "Delete ticket",
    );
    if (ok) await adminCommand("delete", { ticket_id: id });
  }
});

list.addEventListener("change", async (e) => {
  const select = e.target.closest("select[data-action=priority]");
  if (!select) return;
  const id = select.closest("li[data-id]").dataset.id;
  const ok = await adminCommand("update_priority", { ticket_id: id, priority: select.value });
  const t = tickets.get(id);
  if (!ok && t) select.value = t.priority;
});

$("clear-button").addEventListener("click", async () => {
  const n = tickets.size;
  const ok = await confirmDialog(
    "Clear all tickets?",
    `All ${n} ${n === 1 ? "ticket" : "tickets"} will be deleted for everyone. This cannot be undone.`,
    "Clear all tickets",
  );
  if (ok) await adminCommand("clear_all");
});

function shorten(text, max = 80) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function confirmDialog(title, text, okLabel) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// ---------------------------------------------------------------- chrome

function toast(message, kind = "") {
  const box = $("toasts");
  const note = el("div", `toast ${kind}`, message);
  box.append(note);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => note.remove(), kind === "error" || kind === "warn" ? 8000 : 4000);
}

function onConnectionState(state, detail) {
  const conn = $("conn");
  conn.className = `conn ${state}`;
  conn.dataset.state = state;
  const text = {
    connecting: "Connecting…",
    connected: "Live",
    reconnecting: detail ? `Reconnecting ${detail}` : "Reconnecting…",
    offline: detail ? `Offline · retry ${detail}` : "Offline · retrying…",
  }[state];
  $("conn-text").textContent = text;
  conn.title = state === "connected" ? "Connected: changes appear as they happen" : text;
  $("conn-retry").hidden = state !== "offline";
}

const connection = new Connection({ onEvent: applyEvent, onState: onConnectionState });

$("conn-retry").addEventListener("click", () => connection.retryNow());
$("filters").addEventListener("input", (e) => {
  if (e.target.id === "q") readFilters();
});
$("filters").addEventListener("change", readFilters);
$("filters").addEventListener("submit", (e) => e.preventDefault());
$("filters-reset").addEventListener("click", () => {
  filters = { q: "", status: "", priority: "", category: "" };
  showFilters();
  filtering.toUrl(filters);
  refresh();
  $("q").focus();
});
document.querySelector(".stats").addEventListener("click", (e) => {
  const chip = e.target.closest("button[data-filter-key]");
  if (!chip) return;
  setFilter(chip.dataset.filterKey, chip.dataset.filterValue);
});

setInterval(() => {
  refreshAges(list);
  showExpiry();
}, 20_000);

ensureCategories(CATEGORIES);
showFilters();
updateCounter();
session.restore();
connection.start();
