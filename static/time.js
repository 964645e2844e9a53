// Relative ages ("3 min ago") that stay current.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function ago(iso, now = Date.now()) {
  const ms = now - Date.parse(iso);
  if (ms < 45_000) return "just now";
  if (ms < HOUR) return `${Math.max(1, Math.round(ms / MINUTE))} min ago`;
  if (ms < DAY) return `${Math.round(ms / HOUR)} h ago`;
  const days = Math.round(ms / DAY);
  if (days < 14) return days === 1 ? "yesterday" : `${days} days ago`;
  return absolute.format(new Date(iso));
}

export function until(iso, now = Date.now()) {
  const ms = Date.parse(iso) - now;
  const at = clock.format(new Date(iso));
  if (ms <= 0) return `now (${at})`;
  if (ms < MINUTE) return `in under a minute (${at})`;
  if (ms < HOUR) return `in ${Math.round(ms / MINUTE)} min (${at})`;
  return `at ${absolute.format(new Date(iso))}`;
}

/** An RFC 3339 UTC time that sorts as a string as the time does (its fraction has 0 to 9 digits). */
export function timeKey(iso) {
  const m = /^([^.]*?)(?:\.(\d{1,9}))?Z$/.exec(iso);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}Z` : iso;
}

export function full(iso) {
  return absolute.format(new Date(iso));
}

/** A <time> element whose text is kept as a relative age by refreshAges. */
export function ageElement(iso, prefix = "") {
  const el = document.createElement("time");
  el.dateTime = iso;
  el.className = "age";
  el.dataset.prefix = prefix;
  el.title = full(iso);
  el.textContent = prefix + ago(iso);
  return el;
}

export function refreshAges(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time.age")) {
    const text = (el.dataset.prefix || "") + ago(el.dateTime, now);
    if (el.textContent !== text) el.textContent = text;
  }
}
