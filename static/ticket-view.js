// One ticket as a list item. Every piece of ticket text goes through
// textContent (via `el`), never innerHTML, so a description such as
// `<img src=x onerror=alert(1)>` shows as those characters.

import { ageElement, full } from "./time.js";

export const PRIORITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];

const IMPACT = { 1: "widespread", 2: "a team or department", 3: "one user or device" };
const URGENCY = { 1: "work stopped now", 2: "work degraded", 3: "minor" };

/** An element with a class and text (text only, never markup). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function title(word) {
  return word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
}

export function priorityBadge(priority) {
  const badge = el("span", `badge prio-${priority.toLowerCase()}`, title(priority));
  return badge;
}

/** A new <li> for `ticket`. */
export function createItem(ticket, admin) {
  const li = document.createElement("li");
  li.dataset.id = ticket.request_id;
  fillItem(li, ticket, admin);
  return li;
}

/** Rebuilds `li` for the current state of `ticket`, keeping what the user had open or focused. */
export function fillItem(li, ticket, admin) {
  const wasOpen = li.querySelector("details.why")?.open ?? false;
  const focused = li.contains(document.activeElement) ? document.activeElement.dataset.action : undefined;

  const id = ticket.request_id;
  const details = ticket.request_details;
  const analysis = ticket.analysis;
  const priority = ticket.priority.toLowerCase();
  li.className = `ticket prio-${priority}${ticket.status === "resolved" ? " resolved" : ""}`;

  const head = el("div", "t-head");
  const badge = priorityBadge(ticket.priority);
  badge.title = `Priority score ${ticket.priority_score} of 100`;
  head.append(badge, el("span", "chip", title(analysis.category)));
  if (ticket.status === "resolved") head.append(el("span", "chip chip-resolved", "Resolved"));
  if (analysis.needs_review && ticket.status !== "resolved" && ticket.priority_source !== "manual") {
    const review = el("span", "chip chip-review", "Review first");
    review.title = "The analyzer rated this CRITICAL although another level was about as likely: a person should check it first.";
    head.append(review);
  }
  if (ticket.priority_source === "manual") {
    const manual = el("span", "chip chip-manual", "Set manually");
    if (ticket.priority_set_by) manual.title = `Priority set by ${ticket.priority_set_by}`;
    head.append(manual);
  }
  head.append(ageElement(ticket.created_at));

  const desc = el("p", "t-desc", details.description);
  desc.id = `d-${id}`;

  const meta = el("dl", "t-meta");
  for (const [label, value] of [["System", details.system], ["Requester", details.requester], ["Team", analysis.team]]) {
    const pair = el("div");
    pair.append(el("dt", "", label), el("dd", "", value));
    meta.append(pair);
  }
  if (ticket.status === "resolved" && ticket.resolved_at) {
    const pair = el("div");
    const dd = el("dd");
    dd.append(ageElement(ticket.resolved_at));
    pair.append(el("dt", "", "Resolved"), dd);
    meta.append(pair);
  }

  li.replaceChildren(head, desc, meta, why(ticket, wasOpen));
  if (admin) li.append(adminControls(ticket));

  if (focused) li.querySelector(`[data-action="${focused}"]`)?.focus();
}

function why(ticket, open) {
  const a = ticket.analysis;
  const box = el("details", "why");
  box.open = open;
  box.append(el("summary", "", `Why ${title(ticket.priority)}?`));

  const facts = el("dl", "why-facts");
  const rows = [
    ["Impact", `${a.impact} · ${IMPACT[a.impact] ?? "unknown"}`],
    ["Urgency", `${a.urgency} · ${URGENCY[a.urgency] ?? "unknown"}`],
    ["Score", `${ticket.priority_score} / 100`],
    ["Confidence", `${Math.round((a.confidence ?? 0) * 100)} %`],
  ];
  for (const [label, value] of rows) {
    const pair = el("div");
    pair.append(el("dt", "", label), el("dd", "", value));
    facts.append(pair);
  }
  box.append(facts);

  if (a.signals?.length) {
    const list = el("ul", "signals");
    for (const s of a.signals) {
      const item = el("li");
      item.append(el("span", `kind kind-${String(s.kind).replace(/[^a-z_-]/gi, "")}`, s.kind), el("q", "", s.text), el("span", "effect", s.effect));
      list.append(item);
    }
    box.append(list);
  } else {
    box.append(el("p", "muted", "No specific signals: the analyzer used its defaults."));
  }

  const foot = [`Model ${a.model_version}`, `Ticket ${ticket.request_id}`];
  if (ticket.priority_source === "manual") {
    let set = `Priority set manually`;
    if (ticket.priority_set_by) set += ` by ${ticket.priority_set_by}`;
    if (ticket.priority_set_at) set += ` on ${full(ticket.priority_set_at)}`;
    foot.unshift(set);
  }
  box.append(el("p", "why-foot", foot.join(" · ")));
  return box;
}

function adminControls(ticket) {
  const id = ticket.request_id;
  const bar = el("div", "t-admin");
  const resolved = ticket.status === "resolved";
  const toggle = el("button", "btn btn-small", resolved ? "Reopen" : "Resolve");
  toggle.type = "button";
  toggle.dataset.action = "toggle";
  toggle.dataset.command = resolved ? "reopen" : "resolve";
  toggle.setAttribute("aria-describedby", `d-${id}`);

  const label = el("label", "inline-label", "Priority");
  const select = el("select", "select-small");
  select.id = `p-${id}`;
  label.htmlFor = select.id;
  select.dataset.action = "priority";
  select.setAttribute("aria-describedby", `d-${id}`);
  for (const p of PRIORITIES) {
    const option = el("option", "", title(p));
    option.value = p;
    option.selected = p === ticket.priority;
    select.append(option);
  }

  const remove = el("button", "btn btn-small btn-danger-quiet", "Delete");
  remove.type = "button";
  remove.dataset.action = "delete";
  remove.setAttribute("aria-describedby", `d-${id}`);

  bar.append(toggle, label, select, remove);
  return bar;
}
