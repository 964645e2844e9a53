// The list's filters and search, mirrored in the URL query so a view can be
// bookmarked: ?status=open&priority=HIGH&category=email&q=printer

const KEYS = ["q", "status", "priority", "category"];

export function fromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const key of KEYS) filters[key] = (params.get(key) ?? "").trim();
  filters.priority = filters.priority.toUpperCase();
  filters.category = filters.category.toLowerCase();
  filters.status = filters.status.toLowerCase();
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

export function matches(ticket, filters) {
  if (filters.status && ticket.status !== filters.status) return false;
  if (filters.priority && ticket.priority !== filters.priority) return false;
  if (filters.category && ticket.analysis.category !== filters.category) return false;
  if (filters.q) {
    const d = ticket.request_details;
    const haystack = [d.description, d.system, d.requester, ticket.analysis.category, ticket.analysis.team, ticket.request_id]
      .join("\n")
      .toLowerCase();
    for (const word of filters.q.toLowerCase().split(/\s+/)) {
      if (word && !haystack.includes(word)) return false;
    }
  }
  return true;
}

/**
 * The same filters as `GET /api/tickets` query parameters. The server's `q`
 * is one case-insensitive substring of the description, system or
 * requester, so its matches are a subset of `matches` (which also looks at
 * the category, team and id, word by word).
 */
export function toApi(filters) {
  const params = new URLSearchParams();
  for (const key of KEYS) if (filters[key]) params.set(key, filters[key]);
  return params;
}
