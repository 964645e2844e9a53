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

// ---------------------------------------------------------------- SLA countdowns
//
// A ticket that still needs work shows the countdown of the clock that
// matters: the first response until it is met, then the resolution. The
// server says each clock's state and `due_at`; the page counts down to
// `due_at` by itself, so a countdown turns red ("overdue") on time even
// before the server's `sla_breached` arrives. At risk is the server's call
// (the page does not know the policy's threshold): it comes with the ticket
// or with `sla_warning`. The state is in words too (visible, or for screen
// readers), never colour alone.

const SECOND = 1000;
const CLOCK_NAMES = { first_response: "Response", resolution: "Resolution" };
const CLOCK_WORDS = { first_response: "first response", resolution: "resolution" };
const STATE_WORDS = { running: "On track", at_risk: "At risk", breached: "Breached", paused: "Paused" };
/** Under this long to go (or overdue), a countdown is redrawn every second. */
const FINE_MS = HOUR;
/** Otherwise every this often (it shows minutes at most). */
const COARSE_MS = 30 * SECOND;

/** A length of time, `seconds` (>= 0): "45 s", "4 min 5 s", "12 min", "3 h 5 min", "2 d 3 h". */
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (s < 10 * 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  if (s < 3600) return `${m} min`;
  const h = Math.floor(s / 3600);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

function isClock(view) {
  return Boolean(view) && typeof view.state === "string";
}

/**
 * Which clock a working ticket's countdown follows: the first response
 * until it is given (met, or late: `completed_at`), then the resolution. An
 * unanswered first response that is overdue stays shown (red) until the
 * resolution itself is at risk or overdue.
 * Returns `[name, view]`, or null.
 */
export function slaFocus(sla) {
  const first = sla?.first_response;
  const resolution = sla?.resolution;
  if (!isClock(first) || !isClock(resolution)) return null;
  // Met, or answered late (`completed_at`): the response is given.
  if (first.state === "met" || first.completed_at) return ["resolution", resolution];
  if (first.state === "breached" && (resolution.state === "at_risk" || resolution.state === "breached")) return ["resolution", resolution];
  return ["first_response", first];
}

/**
 * How a countdown looks at `now`: `{state, lead, word, text, title, left}`.
 * `state` is the shown one: the server's, or "breached" once `due_at` passed;
 * `lead` a word for screen readers only, `word` one shown before the text;
 * `left` the milliseconds to `due_at` (negative: overdue; null: none).
 */
export function slaLook({ clock, state, due, pending }, now = Date.now()) {
  const name = CLOCK_NAMES[clock] ?? "Target";
  const words = CLOCK_WORDS[clock] ?? "target";
  const dueMs = due ? Date.parse(due) : NaN;
  const left = Number.isFinite(dueMs) ? dueMs - now : null;
  if (state === "breached" && pending) {
    // Overdue, and waiting on the requester: the overdue time does not grow.
    return {
      state: "breached",
      lead: "SLA breached: ",
      word: "",
      text: `${name} overdue · paused`,
      title: `Breached: the ${words} ${due ? `was due ${full(due)}` : "is overdue"}; the clock is paused while the ticket is pending`,
      left: null,
    };
  }
  if (state === "paused") {
    return {
      state: "paused",
      lead: "",
      word: "",
      text: "SLA paused",
      title: `Paused: the ${words} clock does not run while the ticket is pending`,
      left: null,
    };
  }
  if (left === null) return null;
  if (state === "breached" || left <= 0) {
    return {
      state: "breached",
      lead: "SLA breached: ",
      word: "",
      text: left <= 0 ? `${name} overdue by ${span(Math.max(1, -left / SECOND))}` : `${name} overdue`,
      title: `Breached: the ${words} was due ${full(due)}`,
      left,
    };
  }
  const atRisk = state === "at_risk";
  return {
    state: atRisk ? "at_risk" : "running",
    lead: atRisk ? "SLA " : "SLA on track: ",
    word: atRisk ? "At risk" : "",
    text: `${name} due in ${span(Math.ceil(left / SECOND))}`,
    title: `${STATE_WORDS[atRisk ? "at_risk" : "running"]}: the ${words} is due ${full(due)}`,
    left,
  };
}

/** Draws countdown `node` (made by slaElement) as `look`; touches the DOM only when something changed. */
function drawSla(node, look) {
  const className = `sla sla-${look.state.replace("_", "-")}`;
  if (node.className !== className) node.className = className;
  node.dataset.shown = look.state;
  if (node.title !== look.title) node.title = look.title;
  const text = `${look.lead}${look.word ? `${look.word} · ` : ""}${look.text}`;
  if (node.textContent === text) return;
  const parts = [];
  if (look.lead) {
    const lead = document.createElement("span");
    lead.className = "visually-hidden";
    lead.textContent = look.lead;
    parts.push(lead);
  }
  if (look.word) {
    const word = document.createElement("span");
    word.className = "sla-word";
    word.textContent = look.word;
    parts.push(word, document.createTextNode(" · "));
  }
  const body = document.createElement("span");
  body.className = "sla-text";
  body.textContent = look.text;
  parts.push(body);
  node.replaceChildren(...parts);
}

/**
 * The SLA line of `ticket`, or null: a live countdown while it needs work
 * (kept current by refreshSla), a quiet word once it is resolved or closed.
 */
export function slaElement(ticket, now = Date.now()) {
  const sla = ticket.sla;
  if (!sla) return null;
  if (ticket.status === "resolved" || ticket.status === "closed") {
    const state = sla.resolution?.state;
    if (state !== "met" && state !== "breached") return null;
    const node = document.createElement("span");
    node.className = `sla sla-done sla-done-${state === "met" ? "met" : "missed"}`;
    node.dataset.state = state;
    node.textContent = state === "met" ? "Resolved in time" : "Resolution target missed";
    node.title = state === "met" ? "Resolved within the SLA target" : "Resolved after the SLA target";
    return node;
  }
  const focus = slaFocus(sla);
  if (!focus) return null;
  const [clock, view] = focus;
  const node = document.createElement("span");
  node.dataset.clock = clock;
  node.dataset.state = view.state;
  node.dataset.due = view.due_at ?? "";
  if (ticket.status === "pending") node.dataset.pending = "true";
  const look = slaLook(slaOf(node), now);
  if (!look) return null;
  node.dataset.live = "true";
  drawSla(node, look);
  return node;
}

function slaOf(node) {
  return { clock: node.dataset.clock, state: node.dataset.state, due: node.dataset.due || null, pending: node.dataset.pending === "true" };
}

/**
 * Redraws every live countdown under `root` for the current time. Returns
 * how long until it should run again (in ms): about a second while a
 * countdown in view is within the hour (and exactly when one falls due),
 * COARSE_MS otherwise; null when no countdown is shown at all.
 */
export function refreshSla(root) {
  const now = Date.now();
  let next = null;
  for (const node of root.querySelectorAll(".sla[data-live]")) {
    const look = slaLook(slaOf(node), now);
    if (!look) continue;
    drawSla(node, look);
    // Paused or overdue-while-paused: nothing changes with time.
    if (look.left === null || node.closest("[hidden]")) continue;
    let wait = COARSE_MS;
    if (look.left !== null && Math.abs(look.left) < FINE_MS) {
      wait = SECOND;
      // Red the moment it falls due, not up to a second late.
      if (look.left > 0 && look.left < SECOND) wait = look.left + 5;
    }
    next = next === null ? wait : Math.min(next, wait);
  }
  return next;
}
