// The list's filters and search, mirrored in the URL query so a view can be
// bookmarked: ?view=mine&status=pending&priority=HIGH&category=email&q=printer
//
// `view` is a quick filter: "mine" (assigned to the signed-in staff member
// and not done), "unassigned" (open, nobody assigned) or "submitted" (the
// tickets submitted from this browser: "My tickets", for anyone). `status` is one of
// the five statuses, or "needs_work" (open, in progress or pending: every
// ticket someone still has to work on).

import { isDone } from "./ticket-view.js";

const KEYS = ["q", "view", "status", "priority", "category"];

export const VIEWS = ["mine", "unassigned", "submitted"];
export const NEEDS_WORK = "needs_work";
/** The statuses that still need work, as the API names them. */
const WORKING = ["open", "in_progress", "pending"];

export function empty() {
  return Object.fromEntries(KEYS.map((key) => [key, ""]));
}

export function fromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const key of KEYS) filters[key] = (params.get(key) ?? "").trim();
  filters.priority = filters.priority.toUpperCase();
  filters.category = filters.category.toLowerCase();
  filters.status = filters.status.toLowerCase();
  filters.view = VIEWS.includes(filters.view.toLowerCase()) ? filters.view.toLowerCase() : "";
  return filters;
}

export function toUrl(filters) {
  const params = new URLSearchParams();
  for (const key of KEYS) if (filters[key]) params.set(key, filters[key]);
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}${location.hash}`;
  if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, "", url);
}

export function isActive(filters) {
  return KEYS.some((key) => filters[key]);
}

/**
 * Whether `ticket` passes `filters`; `me` is the signed-in staff member's
 * name (or null), `submitted` the ids of the tickets submitted from this browser.
 */
export function matches(ticket, filters, me = null, submitted = new Set()) {
  if (filters.status === NEEDS_WORK) {
    if (isDone(ticket.status)) return false;
  } else if (filters.status && ticket.status !== filters.status) return false;
  if (filters.view === "mine" && (!me || ticket.assignee !== me || isDone(ticket.status))) return false;
  if (filters.view === "unassigned" && (ticket.status !== "open" || ticket.assignee)) return false;
  if (filters.view === "submitted" && !submitted.has(ticket.request_id)) return false;
  if (filters.priority && ticket.priority !== filters.priority) return false;
  if (filters.category && ticket.analysis.category !== filters.category) return false;
  if (filters.q) {
    const d = ticket.request_details;
    const haystack = [d.description, d.system, d.requester, ticket.analysis.category, ticket.team, ticket.analysis.team, ticket.assignee ?? "", ticket.request_id]
      .join("\n")
      .toLowerCase();
    for (const word of filters.q.toLowerCase().split(/\s+/)) {
      if (word && !haystack.includes(word)) return false;
    }
  }
  return true;
}

/**
 * The same filters as `GET /api/tickets` queries: one per status asked for
 * (the API takes one status at a time, so "needs work" and "My queue" ask
 * for each working status; the answers never overlap), none when nothing
 * can match (My queue signed out, Unassigned with a done status), or for
 * My tickets (the page loads those by id, with their follow tokens). The
 * server's `q` is one case-insensitive substring of the description, system
 * or requester, so its matches are a subset of `matches` (which also looks
 * at the category, team, assignee and id, word by word).
 */
export function toApi(filters, me = null) {
  const base = new URLSearchParams();
  for (const key of ["q", "priority", "category"]) if (filters[key]) base.set(key, filters[key]);
  let statuses = filters.status === NEEDS_WORK ? WORKING : filters.status ? [filters.status] : [null];
  if (filters.view === "mine") {
    if (!me) return [];
    base.set("assignee", me);
    statuses = statuses[0] === null ? WORKING : statuses.filter((s) => WORKING.includes(s));
  } else if (filters.view === "submitted") {
    return [];
  } else if (filters.view === "unassigned") {
    base.set("unassigned", "true");
    statuses = statuses[0] === null ? ["open"] : statuses.filter((s) => s === "open");
  }
  return statuses.map((status) => {
    const params = new URLSearchParams(base);
    if (status) params.set("status", status);
    return params;
  });
}
