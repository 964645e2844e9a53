// The live ticket board. Data flows one way: the Connection hands every
// server event to `apply*`, which updates `tickets` (the truth) and then the
// list items keyed by ticket id; user actions only send requests and wait for
// the server's broadcast to change the page.
//
// The first sync may hold only the newest tickets (`sync_state.complete`
// false): the board says so, "Load more" walks `GET /api/tickets` for the
// older ones, and while the list is partial the filters also ask the API, so
// a search finds tickets that were never loaded. Fetched tickets join
// `tickets` and then follow the live events like any other; a ticket the
// page already has keeps its live state.
//
// Signed-in staff (agents and admins alike) get working controls on each
// ticket: only those the ticket's status allows. A refused change
// (invalid_transition, forbidden, ...) is shown under that ticket, kept in
// `notes` so a rebuild of the item does not lose it.
//
// Each ticket has a conversation (Conversations, in conversation.js): opened
// on demand, fetched over HTTPS, kept current by the comment events. A staff
// page also sends `authenticate` on its socket (again after each
// reconnection) so internal notes reach it live; after a reconnection the
// open conversations are fetched again, as the events missed meanwhile are
// not all replayed. Submitting a ticket keeps its follow token in this
// browser (FollowTokens): "My tickets" lists those tickets, and their
// conversations can be read and answered without an account.
//
// Modules: connection.js (WebSocket, backoff, resume, refs), ticket-view.js (one
// ticket's DOM, text only, and its conversation), filters.js (filters and quick
// views <-> URL), fields.js (the form rules), session.js (staff sign-in, follow
// tokens), time.js (ages and SLA countdowns).
//
// Each ticket that needs work shows its SLA countdown (time.js). The page
// counts down to the clock's `due_at` by itself, so it turns red on time;
// `sla_warning` and `sla_breached` bring the ticket's clocks as the server
// now has them (at risk is only ever the server's word).

import { Connection } from "./connection.js";
import { check, fieldOf, length, LIMITS } from "./fields.js";
import * as filtering from "./filters.js";
import { FollowTokens, Session } from "./session.js";
import { Conversations } from "./conversation.js";
import { createItem, el, fillItem, PRIORITIES, priorityBadge, showPanel, STATUS_LABELS, STATUSES } from "./ticket-view.js";
import { refreshAges, refreshSla, timeKey, until } from "./time.js";

const $ = (id) => document.getElementById(id);

/** Categories the analyzer knows; others seen on the wire are added. */
const CATEGORIES = ["network", "hardware", "software", "security", "access", "database", "email", "printing", "telephony", "infrastructure"];

/** request_id -> ticket, as the server last told us. */
let tickets = new Map();
/** request_id -> its <li>. */
const items = new Map();
let loadedOnce = false;
let filters = filtering.fromUrl();
/** The signed-in staff member, {user, role}, or null. */
let staff = null;
/** request_id -> the note shown under that ticket ({text, kind}): a refused change. */
const notes = new Map();

const ROLE_LABELS = { agent: "Agent", admin: "Admin" };

/** The signed-in staff member's name, or null. */
function me() {
  return staff?.user ?? null;
}

/** Tickets asked of the API at once. */
const PAGE = 100;
/** Quiet time after the last filter change before the API is asked. */
const SEARCH_DEBOUNCE_MS = 300;

/** Tickets in the whole store, as the server last said (sync_state, stats_update). */
let storeTotal = 0;
/** Whether `tickets` holds every ticket in the store. */
let listComplete = true;
/** Whether `tickets` are the newest ones, none older loaded out of order. */
let contiguous = true;
/** Whether a sync_state arrived yet (the first one is the page load). */
let syncedOnce = false;
/** Bumped by every full sync: API answers asked for before it are dropped. */
let generation = 0;
/** Tickets deleted since the last full sync: an API page asked for before the deletion may still hold them. */
const deleted = new Set();
/** The version of the last all_tickets_cleared (-1: none since the last full sync). */
let clearedAt = -1;
/** Where the "Load more" walk over the API stands: the next page's cursor (null: the first page). */
let walkCursor = null;
/**
 * The API search behind the current filters while the list is partial:
 * {key, busy, total, totals, cursors, error}. The filters may need several
 * queries (one per status, see filters.toApi); `cursors[i]` continues query
 * i (null: it has no more), `totals[i]` is its count.
 */
let search = null;
let searchTimer = null;
let loadingMore = false;
/** The SLA countdowns' next redraw (tickSla). */
let slaTimer = null;

const list = $("ticket-list");

/** The follow tokens of the tickets submitted from this browser. */
const follow = new FollowTokens(() => {
  conversations.updateAll();
  refresh();
});
// A follow link from an email: remembered, then "My tickets" shows it.
if (follow.takeFromLocation()) filters = { ...filters, view: "submitted" };

const conversations = new Conversations({
  list,
  staff: () => staff,
  token: () => session.token,
  follow,
  ticket: (id) => tickets.get(id),
  confirm: confirmDialog,
  onUnauthorized: (token) => sessionRefused(token),
  onLinked: () => refresh(),
});

// ---------------------------------------------------------------- tickets

function compare(x, y) {
  return x < y ? -1 : x > y ? 1 : 0;
}

function byNewest(a, b) {
  return compare(timeKey(b.created_at), timeKey(a.created_at)) || compare(b.request_id, a.request_id);
}

function upsert(ticket, { animate = false, flash = false } = {}) {
  const known = tickets.get(ticket.request_id);
  tickets.set(ticket.request_id, ticket);
  let li = items.get(ticket.request_id);
  if (li) {
    if (JSON.stringify(known) !== JSON.stringify(ticket)) {
      fillItem(li, ticket, staff, notes.get(ticket.request_id) ?? null);
      conversations.attach(li, ticket);
      if (flash) restartAnimation(li, "flash");
    }
    return;
  }
  li = createItem(ticket, staff, notes.get(ticket.request_id) ?? null);
  conversations.attach(li, ticket);
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
  notes.delete(id);
  conversations.forget(id);
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
  // What was loaded or searched on top of the old list is gone with it.
  generation += 1;
  deleted.clear();
  clearedAt = -1;
  walkCursor = null;
  contiguous = true;
  clearTimeout(searchTimer);
  search = null;
  setMoreStatus("");
}

/** Where the stream stands after a (re)connection: a full sync or a resumed one. */
function applySync(state) {
  const reconnected = syncedOnce;
  syncedOnce = true;
  if (Number.isSafeInteger(state.total)) storeTotal = state.total;
  // A resumed connection replayed what it missed into the list it had:
  // that list is as complete as it was.
  if (!state.recovered) listComplete = state.complete !== false;
  document.body.dataset.sync = state.recovered ? "recovered" : "full";
  let text = "";
  if (state.recovered) {
    const n = state.sent ?? 0;
    text = n === 0 ? "Reconnected: nothing was missed." : `Reconnected: caught up on ${count(n, "missed change")}.`;
  } else if (reconnected) {
    text = "Reconnected: the list was reloaded from the server.";
  }
  $("sync-status").textContent = text;
  connection.request("get_stats").catch(() => {});
  // Staff hear internal notes once the socket is theirs again; either way
  // the open conversations are asked again.
  if (session.token) authenticateSocket();
  else conversations.resync();
  loadFollowed();
  updateSearch();
  refresh();
}

function applyEvent(event, data, meta = {}) {
  switch (event) {
    case "initial_tickets":
      applyInitial(data);
      return;
    case "sync_state":
      applySync(data);
      return;
    case "new_ticket":
      if (!tickets.has(data.request_id)) storeTotal += 1;
      upsert(data, { animate: !meta.replay });
      break;
    case "ticket_updated":
    case "ticket_resolved":
      // An update to a ticket this partial list never loaded brings it in.
      if (!tickets.has(data.request_id)) noteInsertion(data);
      upsert(data, { flash: !meta.replay });
      break;
    case "sla_warning":
    case "sla_breached": {
      // A clock became at risk or overdue: the ticket's clocks after it.
      const known = tickets.get(data?.ticket_id);
      if (known && data.sla && typeof data.sla === "object") upsert({ ...known, sla: data.sla });
      break;
    }
    case "ticket_deleted":
      deleted.add(data.ticket_id);
      storeTotal = Math.max(0, storeTotal - 1);
      remove(data.ticket_id);
      break;
    case "all_tickets_cleared":
      for (const id of [...items.keys()]) remove(id);
      tickets.clear();
      clearedAt = meta.v ?? Number.MAX_SAFE_INTEGER;
      storeTotal = 0;
      listComplete = true;
      break;
    case "stats_update":
      if (Number.isSafeInteger(data.total)) storeTotal = data.total;
      renderStats(data);
      if (!meta.replay) refresh();
      return;
    case "comment_added":
    case "comment_edited":
    case "comment_deleted": {
      conversations.apply(event, data);
      // The ticket's clocks after it (a staff reply meets the first response).
      const known = tickets.get(data?.ticket_id);
      if (known && data.sla && typeof data.sla === "object") upsert({ ...known, sla: data.sla });
      return;
    }
    case "session_expired":
      // The socket is anonymous again. At the session's expiry, so is the
      // page; otherwise (signed in again meanwhile) the socket signs in
      // again, and the server says whether the token still holds.
      if (!session.token) return;
      if (sessionEnding()) session.end("Your session expired. Sign in again.");
      else authenticateSocket();
      return;
    case "error":
      // An error without a ref we are waiting for (e.g. rate limiting).
      toast(data.message, "error");
      return;
    default:
      return;
  }
  // Replayed events are shown together at their sync_state.
  if (!meta.replay) refresh();
}

// ---------------------------------------------------------------- older tickets

function count(n, noun) {
  return `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;
}

/** Whether the store holds tickets this page has not loaded. */
function isPartial() {
  return loadedOnce && !listComplete && tickets.size < storeTotal;
}

function oldestLoaded() {
  let oldest = null;
  for (const t of tickets.values()) if (!oldest || byNewest(t, oldest) > 0) oldest = t;
  return oldest;
}

/** A ticket joins the list from outside the walk: if it is older than the oldest, the list has a gap. */
function noteInsertion(ticket) {
  if (listComplete) return;
  const oldest = oldestLoaded();
  if (oldest && byNewest(ticket, oldest) > 0) contiguous = false;
}

/** Where the stream stood when an API request was made, to judge its answer. */
function requestContext() {
  return { generation, v: connection.version ?? -1 };
}

/**
 * Adds the tickets of an API page that the page does not have. A ticket it
 * has keeps its live state (the events are at least as new); one deleted,
 * or cleared away, after the request was made is not brought back.
 * Returns how many were added, or null when a full sync made the answer stale.
 */
function merge(page, context, { walk = false } = {}) {
  if (context.generation !== generation) return null;
  let added = 0;
  for (const t of page) {
    const id = t?.request_id;
    if (!id || tickets.has(id) || deleted.has(id) || clearedAt > context.v) continue;
    if (!walk) noteInsertion(t);
    upsert(t, { animate: true });
    added += 1;
  }
  return added;
}

/** One page of `GET /api/tickets`: {tickets, next_cursor, total}. */
async function fetchTickets(params) {
  let response;
  try {
    response = await fetch(`/api/tickets?${params}`, { headers: { Accept: "application/json" } });
  } catch {
    throw new Error("Could not reach the server. Try again once the connection is back.");
  }
  const body = await response.json().catch(() => null);
  if (response.status === 429) throw new Error("Too many requests right now. Wait a moment and try again.");
  if (!response.ok) throw new Error(body?.error?.message ?? `The server answered HTTP ${response.status}.`);
  if (!body || !Array.isArray(body.tickets)) throw new Error("The server's answer was not a page of tickets.");
  return body;
}

function setMoreStatus(text, kind = "") {
  const status = $("more-status");
  status.textContent = text;
  status.className = `form-status ${kind}`;
}

/** "Load more": the next tickets of the walk over every ticket, newest first. */
async function walkOlder() {
  let added = 0;
  // Pages the list already holds add nothing: keep going until something new came.
  while (added < PAGE) {
    const context = requestContext();
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (walkCursor) params.set("cursor", walkCursor);
    const page = await fetchTickets(params);
    const n = merge(page.tickets, context, { walk: true });
    if (n === null) return "The list was reloaded from the server meanwhile.";
    added += n;
    if (Number.isSafeInteger(page.total)) storeTotal = Math.max(page.total, tickets.size);
    walkCursor = page.next_cursor ?? null;
    if (walkCursor === null) {
      // Every ticket is here now; later ones come as events.
      listComplete = true;
      contiguous = true;
      updateSearch();
      break;
    }
  }
  return added === 0 ? "No older tickets." : `Loaded ${count(added, "older ticket")}.`;
}

/**
 * In a partial list, the tickets submitted from this browser that were not
 * loaded: asked for with their follow tokens, so "My tickets" holds them all.
 */
async function loadFollowed() {
  if (!isPartial()) return;
  const context = requestContext();
  const missing = [...follow.ids()].filter((id) => !tickets.has(id) && !deleted.has(id)).slice(-FOLLOWED_LOADED);
  let added = 0;
  for (const id of missing) {
    const token = follow.get(id);
    try {
      const response = await fetch(`/api/tickets/${encodeURIComponent(id)}?${new URLSearchParams({ follow: token })}`, {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) continue;
      const { comments, ...ticket } = await response.json();
      const n = merge([ticket], context);
      if (n === null) return;
      added += n;
    } catch {
      return;
    }
  }
  if (added) refresh();
}

/** The most submitted tickets asked for one by one. */
const FOLLOWED_LOADED = 20;

/** Whether the API search has more pages. */
function searchHasMore() {
  return Boolean(search?.cursors?.some(Boolean));
}

/**
 * A page of each query the current filters need: the first pages (`cursors`
 * null), or the next ones (a query whose cursor is null is done: null).
 */
function fetchSearchPages(cursors) {
  const queries = filtering.toApi(filters, me());
  return Promise.all(
    queries.map((params, i) => {
      if (cursors && !cursors[i]) return null;
      params.set("limit", String(PAGE));
      if (cursors) params.set("cursor", cursors[i]);
      return fetchTickets(params);
    }),
  );
}

/** "Load more matches": the next page of the API search. */
async function searchMore() {
  const { key, cursors, totals } = search;
  const context = requestContext();
  const pages = await fetchSearchPages(cursors);
  if (search?.key !== key) return "";
  const n = merge(pages.flatMap((page) => page?.tickets ?? []), context);
  if (n === null) return "The list was reloaded from the server meanwhile.";
  const nextTotals = pages.map((page, i) => page?.total ?? totals[i] ?? 0);
  search = {
    ...search,
    totals: nextTotals,
    total: nextTotals.reduce((a, b) => a + b, 0),
    cursors: pages.map((page) => page?.next_cursor ?? null),
  };
  return `Loaded ${count(n, "more match")}.`;
}

async function loadMore() {
  if (loadingMore) return;
  const searching = Boolean(filtering.isActive(filters) && searchHasMore());
  const button = $("load-more");
  loadingMore = true;
  button.disabled = true;
  button.textContent = "Loading…";
  list.setAttribute("aria-busy", "true");
  setMoreStatus("");
  let text = "";
  let kind = "";
  try {
    text = searching ? await searchMore() : await walkOlder();
    kind = "ok";
  } catch (error) {
    text = error.message;
    kind = "error";
  } finally {
    loadingMore = false;
    button.disabled = false;
    list.removeAttribute("aria-busy");
  }
  const hadFocus = document.activeElement === button;
  setMoreStatus(text, kind);
  refresh();
  // The button goes once everything is loaded: keep the focus in the board.
  if (hadFocus && button.hidden) $("board").focus({ preventScroll: true });
}

/** Starts (debounced) or drops the API search the current filters need. */
function updateSearch() {
  // Who is signed in is part of the search: "My queue" asks for their tickets.
  // "My tickets" are all loaded (loadFollowed): no search needed.
  const key = isPartial() && filtering.isActive(filters) && filters.view !== "submitted" ? JSON.stringify([filters, me()]) : null;
  if (key === (search?.key ?? null)) return;
  clearTimeout(searchTimer);
  search = key === null ? null : { key, busy: true, total: null, totals: [], cursors: [], error: "" };
  if (key !== null) searchTimer = setTimeout(runSearch, SEARCH_DEBOUNCE_MS);
}

async function runSearch() {
  const key = search?.key;
  if (!key) return;
  const context = requestContext();
  let next;
  try {
    const pages = await fetchSearchPages(null);
    if (search?.key !== key) return;
    if (merge(pages.flatMap((page) => page.tickets), context) === null) {
      // A full sync replaced the list meanwhile (and asked again).
      return;
    }
    const totals = pages.map((page) => page.total ?? page.tickets.length);
    next = {
      key,
      busy: false,
      total: totals.reduce((a, b) => a + b, 0),
      totals,
      cursors: pages.map((page) => page.next_cursor ?? null),
      error: "",
    };
  } catch (error) {
    if (search?.key !== key) return;
    next = { key, busy: false, total: null, totals: [], cursors: [], error: error.message };
  }
  search = next;
  refresh();
}

// ---------------------------------------------------------------- filters

function refresh() {
  let shown = 0;
  const followed = follow.ids();
  for (const [id, li] of items) {
    const visible = filtering.matches(tickets.get(id), filters, me(), followed);
    li.hidden = !visible;
    if (visible) shown += 1;
  }
  const total = tickets.size;
  const active = filtering.isActive(filters);
  const partial = isPartial();
  let text = "";
  if (!loadedOnce) text = "";
  else if (active && partial) {
    if (search?.busy) text = `${shown.toLocaleString()} shown · searching all ${count(storeTotal, "ticket")}…`;
    else if (search?.error) text = `${shown.toLocaleString()} of ${count(total, "loaded ticket")} shown · the search of all tickets failed: ${search.error}`;
    else if (search) text = `${shown.toLocaleString()} shown · ${search.total.toLocaleString()} of ${count(storeTotal, "ticket")} match`;
    else text = `${shown.toLocaleString()} of ${total.toLocaleString()} shown`;
  } else if (active) text = `${shown.toLocaleString()} of ${total.toLocaleString()} shown`;
  else if (partial) {
    text = contiguous
      ? `Showing the ${total.toLocaleString()} most recent of ${count(storeTotal, "ticket")}`
      : `Showing ${total.toLocaleString()} of ${count(storeTotal, "ticket")}`;
  } else text = count(total, "ticket");
  $("shown").textContent = text;
  const empty = $("empty");
  empty.hidden = !loadedOnce || shown > 0;
  empty.textContent =
    filters.view === "mine" && !staff
      ? "Sign in to see the tickets assigned to you."
      : filters.view === "submitted" && followed.size === 0
      ? "Tickets you submit from this browser are listed here, with their conversations."
      : total === 0 && partial && !active
      ? "No open or recent tickets. Older ones can be loaded."
      : total === 0 && !partial
        ? "No tickets yet. Submit the first one with the form."
        : active && partial && search?.busy
          ? "Searching all tickets…"
          : filters.view === "mine" && !filters.q && !filters.status && !filters.priority && !filters.category
            ? "Nothing in your queue: no open ticket is assigned to you."
            : "No ticket matches these filters.";
  const searchCanGoOn = active && partial && searchHasMore();
  const button = $("load-more");
  button.hidden = !loadingMore && !searchCanGoOn && !(partial && !active);
  if (!loadingMore) button.textContent = searchCanGoOn ? "Load more matches" : "Load more";
  $("more").hidden = button.hidden && !$("more-status").textContent;
  $("filters-reset").hidden = !filtering.isActive(filters);
  for (const chip of document.querySelectorAll(".stat-chip")) {
    chip.setAttribute("aria-pressed", String(filters[chip.dataset.filterKey] === chip.dataset.filterValue));
  }
  showViews();
  ensureCategories([...tickets.values()].map((t) => t.analysis.category));
  tickSla();
}

/** Redraws the SLA countdowns, and again when they next change: every second while one in view is within the hour, rarely otherwise, not at all without one. */
function tickSla() {
  clearTimeout(slaTimer);
  const wait = refreshSla(list);
  slaTimer = wait === null ? null : setTimeout(tickSla, wait);
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

/** The quick views' buttons: which is chosen, and My queue for staff only. */
function showViews() {
  for (const button of document.querySelectorAll("#views button[data-view]")) {
    button.setAttribute("aria-pressed", String(filters.view === button.dataset.view));
  }
  // It stays visible while chosen (from a bookmark, signed out) so it can be left.
  $("view-mine").hidden = !staff && filters.view !== "mine";
}

function showFilters() {
  showViews();
  $("q").value = filters.q;
  $("fl-status").value = filters.status;
  $("fl-priority").value = filters.priority;
  ensureCategories([filters.category]);
  $("fl-category").value = filters.category;
}

function readFilters() {
  filters = {
    ...filters,
    q: $("q").value.trim(),
    status: $("fl-status").value,
    priority: $("fl-priority").value,
    category: $("fl-category").value,
  };
  filtering.toUrl(filters);
  updateSearch();
  refresh();
}

function setFilter(key, value) {
  filters = { ...filters, [key]: filters[key] === value ? "" : value };
  showFilters();
  filtering.toUrl(filters);
  updateSearch();
  refresh();
}

// ---------------------------------------------------------------- stats

function renderStats(stats) {
  $("s-total").textContent = stats.total;
  $("s-open").textContent = stats.open;
  $("s-resolved").textContent = stats.resolved;

  $("s-status").replaceChildren(
    ...STATUSES.map((s) => statChip(el("span", "chip-name as-written", STATUS_LABELS[s]), stats.by_status?.[s] ?? 0, "status", s, STATUS_LABELS[s].toLowerCase())),
  );
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

function statChip(label, count, key, value, name = value) {
  const li = el("li");
  const button = el("button", "stat-chip");
  button.type = "button";
  button.dataset.filterKey = key;
  button.dataset.filterValue = value;
  button.setAttribute("aria-pressed", String(filters[key] === value));
  button.title = `Show only ${name}`;
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
    // This browser may follow it: "My tickets", the conversation, reopening.
    follow.add(reply.request_id, reply.follow_token);
    conversations.update(reply.request_id);
    refresh();
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

// ---------------------------------------------------------------- staff

const session = new Session(onSession);

function onSession(current, reason) {
  const signedIn = current !== null;
  const role = signedIn ? (ROLE_LABELS[current.role] ?? current.role) : "";
  const isAdmin = signedIn && current.role === "admin";
  $("login-form").hidden = signedIn;
  $("admin-panel").hidden = !signedIn;
  $("admin-summary").textContent = signedIn ? `${role} · ${current.user}` : "Staff sign-in";
  const badge = $("admin-badge");
  badge.hidden = !signedIn;
  $("clear-button").hidden = !isAdmin;
  if (signedIn) {
    $("admin-name").textContent = current.user;
    $("admin-role").textContent = role;
    $("admin-can").textContent = isAdmin
      ? "You can work tickets, delete them and clear the board."
      : "You can take, assign and move tickets through their statuses. Deleting tickets is for admins.";
    badge.textContent = `${current.user} · ${role}`;
    badge.title = `Signed in as ${current.user} (${role.toLowerCase()})`;
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
  const next = signedIn ? { user: current.user, role: current.role } : null;
  if (JSON.stringify(next) !== JSON.stringify(staff)) {
    staff = next;
    notes.clear();
    for (const [id, li] of items) fillItem(li, tickets.get(id), staff, null);
    // Internal notes go with the session, or come with the new one.
    conversations.staffChanged();
    // "My queue" is someone else's now (or nobody's).
    updateSearch();
    refresh();
  }
  if (signedIn) authenticateSocket();
}

/**
 * Makes this page's socket a staff socket, so internal notes arrive live;
 * then asks the open conversations again (what came before is not replayed).
 * Not connected: the next sync_state does it.
 */
async function authenticateSocket() {
  const token = session.token;
  if (!token || !connection.connected) return;
  try {
    await connection.request("authenticate", { token });
  } catch (error) {
    if (error.code === "unauthorized") {
      sessionRefused(token);
      return;
    }
  }
  conversations.resync();
}

/** The server refused staff token `token`: if it is still this page's, the session ends, saying why. */
function sessionRefused(token) {
  if (!token || session.token !== token) return;
  // At its expiry the server may say so before the page's own timer.
  session.end(sessionEnding() ? "Your session expired. Sign in again." : "Your session is no longer valid. Sign in again.");
}

/** Whether the session is at (or a few seconds from) its expiry. */
function sessionEnding() {
  return Date.parse(session.current?.expiresAt) - Date.now() < 5000;
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

/** Shows `note` ({text, kind}, or null for none) under ticket `id`. */
function setNote(id, note) {
  if (note) notes.set(id, note);
  else if (!notes.delete(id)) return;
  const li = items.get(id);
  const ticket = tickets.get(id);
  if (li && ticket) fillItem(li, ticket, staff, note);
}

/**
 * Sends a staff command. The broadcast that follows changes the page; a
 * refusal of a change to ticket `id` is shown under that ticket.
 */
async function adminCommand(command, fields = {}, id = null) {
  const token = session.token;
  if (!token) {
    toast("Sign in first.", "warn");
    return false;
  }
  if (id) setNote(id, null);
  try {
    const { data } = await connection.request("admin_command", { command, token, ...fields });
    toast(data.message, "ok");
    return true;
  } catch (error) {
    if (error.code === "unauthorized") session.end("Your session is no longer valid. Sign in again.");
    else if (id && items.has(id)) setNote(id, { text: `Not changed: ${error.message}`, kind: "error" });
    else toast(error.message, "error");
    return false;
  }
}

/** Closes the inline form open in `li`; the focus goes back to its button if it was inside. */
function closePanel(li) {
  const panel = li?.querySelector(".t-panel:not([hidden])");
  if (!panel) return;
  const hadFocus = panel.contains(document.activeElement);
  panel.reset();
  showPanel(li, null);
  if (hadFocus) li.querySelector(`[aria-controls="${panel.id}"]`)?.focus();
}

list.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  const li = button?.closest("li[data-id]");
  if (!li) return;
  const id = li.dataset.id;
  const action = button.dataset.action;
  switch (action) {
    case "toggle":
    case "resume":
      await adminCommand(button.dataset.command, { ticket_id: id }, id);
      break;
    case "take":
      if (staff) await adminCommand("assign", { ticket_id: id, assignee: staff.user }, id);
      break;
    case "unassign":
      await adminCommand("assign", { ticket_id: id, assignee: null }, id);
      break;
    case "open-assign":
    case "open-pending": {
      const open = button.getAttribute("aria-expanded") === "true";
      if (open) closePanel(li);
      else showPanel(li, action.slice("open-".length));
      break;
    }
    case "cancel-panel":
      closePanel(li);
      break;
    case "close": {
      const t = tickets.get(id);
      const ok = await confirmDialog(
        "Close this ticket?",
        `“${shorten(t?.request_details.description ?? id)}” will be closed for good: a closed ticket cannot be reopened or changed.`,
        "Close ticket",
      );
      if (ok) await adminCommand("set_status", { ticket_id: id, status: "closed" }, id);
      break;
    }
    case "delete": {
      const t = tickets.get(id);
      const ok = await confirmDialog(
        "Delete this ticket?",
        `“${shorten(t?.request_details.description ?? id)}” will be removed for everyone. This cannot be undone.`,
        "Delete ticket",
      );
      if (ok) await adminCommand("delete", { ticket_id: id }, id);
      break;
    }
    default:
  }
});

// "continues #…" and "Your reply started a new ticket: #…": go to that ticket.
list.addEventListener("click", (e) => {
  const link = e.target.closest("a[data-ticket-link]");
  if (!link) return;
  e.preventDefault();
  showTicket(link.dataset.ticketLink);
});

/** Scrolls to ticket `id` (loading it if needed, clearing the filters if they hide it) and focuses it. */
async function showTicket(id) {
  if (!tickets.has(id)) {
    const context = requestContext();
    try {
      const token = follow.get(id);
      const response = await fetch(`/api/tickets/${encodeURIComponent(id)}${token ? `?${new URLSearchParams({ follow: token })}` : ""}`, {
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const { comments, ...ticket } = await response.json();
        merge([ticket], context);
      }
    } catch {
      // Said below.
    }
  }
  const li = items.get(id);
  if (!li) {
    toast("That ticket is not on the board any more.", "warn");
    return;
  }
  if (li.hidden) {
    filters = filtering.empty();
    showFilters();
    filtering.toUrl(filters);
    updateSearch();
    refresh();
  }
  li.scrollIntoView({ block: "center" });
  restartAnimation(li, "flash");
  li.querySelector(".c-toggle")?.focus({ preventScroll: true });
}

// The inline forms: assign to a name, pending with a reason.
list.addEventListener("submit", async (e) => {
  const form = e.target.closest("form.t-panel");
  const li = form?.closest("li[data-id]");
  if (!li) return;
  e.preventDefault();
  const id = li.dataset.id;
  let ok;
  if (form.dataset.panel === "assign") {
    const input = form.elements.assignee;
    const name = input.value.trim();
    if (!name) {
      setNote(id, { text: "Enter the name of the staff member to assign.", kind: "error" });
      li.querySelector(`#${CSS.escape(input.id)}`)?.focus();
      return;
    }
    ok = await adminCommand("assign", { ticket_id: id, assignee: name }, id);
  } else {
    const reason = form.elements.reason.value.trim();
    ok = await adminCommand("set_status", { ticket_id: id, status: "pending", ...(reason ? { pending_reason: reason } : {}) }, id);
  }
  if (ok) closePanel(li);
});

list.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  const li = e.target.closest?.(".t-panel")?.closest("li[data-id]");
  if (!li) return;
  e.preventDefault();
  closePanel(li);
});

list.addEventListener("change", async (e) => {
  const select = e.target.closest("select[data-action=priority]");
  if (!select) return;
  const id = select.closest("li[data-id]").dataset.id;
  const ok = await adminCommand("update_priority", { ticket_id: id, priority: select.value }, id);
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
$("load-more").addEventListener("click", loadMore);
$("filters").addEventListener("input", (e) => {
  if (e.target.id === "q") readFilters();
});
$("filters").addEventListener("change", readFilters);
$("filters").addEventListener("submit", (e) => e.preventDefault());
$("views").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-view]");
  if (!button) return;
  filters = { ...filters, view: button.dataset.view };
  filtering.toUrl(filters);
  updateSearch();
  refresh();
});
$("filters-reset").addEventListener("click", () => {
  filters = filtering.empty();
  showFilters();
  filtering.toUrl(filters);
  updateSearch();
  refresh();
  $("q").focus();
});
document.querySelector(".stats").addEventListener("click", (e) => {
  const chip = e.target.closest("button[data-filter-key]");
  if (!chip) return;
  setFilter(chip.dataset.filterKey, chip.dataset.filterValue);
});

// Back to a hidden tab (whose timers the browser slowed): current at once.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) tickSla();
});

setInterval(() => {
  refreshAges(list);
  showExpiry();
  conversations.tick();
}, 20_000);

ensureCategories(CATEGORIES);
showFilters();
updateCounter();
session.restore();
connection.start();
