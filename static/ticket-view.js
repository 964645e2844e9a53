// One ticket as a list item. Every piece of ticket text goes through
// textContent (via `el`), never innerHTML, so a description such as
// `<img src=x onerror=alert(1)>` shows as those characters. The same holds
// for the conversation under each ticket (conversation.js), whose element a
// rebuild of the item keeps in place.

import { ageElement, full, slaElement } from "./time.js";

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

export function title(word) {
  return word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
}

export function priorityBadge(priority) {
  const badge = el("span", `badge prio-${priority.toLowerCase()}`, title(priority));
  return badge;
}

/** The five statuses, in lifecycle order, and how the board names them. */
export const STATUSES = ["open", "in_progress", "pending", "resolved", "closed"];
export const STATUS_LABELS = { open: "Open", in_progress: "In progress", pending: "Pending", resolved: "Resolved", closed: "Closed" };

/** Resolved or closed: no work left. */
export function isDone(status) {
  return status === "resolved" || status === "closed";
}

/**
 * A new <li> for `ticket`. `staff` is the signed-in staff member
 * (`{user, role}`) or null; `note` the message to show under the ticket
 * (a refused change), `{text, kind}` or null.
 */
export function createItem(ticket, staff, note) {
  const li = document.createElement("li");
  li.id = `t-${ticket.request_id}`;
  li.dataset.id = ticket.request_id;
  fillItem(li, ticket, staff, note);
  return li;
}

/** What the user has going on inside `li`: kept across a rebuild. */
function openState(li) {
  // The conversation is never rebuilt with the item: what has the focus there keeps it.
  const active = li.contains(document.activeElement) && !document.activeElement.closest(".t-conv") ? document.activeElement : null;
  const panel = li.querySelector(".t-panel:not([hidden])");
  const values = {};
  if (panel) for (const input of panel.querySelectorAll("input")) values[input.name] = input.value;
  return {
    why: li.querySelector("details.why")?.open ?? false,
    focused: active?.dataset.action,
    selection: active instanceof HTMLInputElement ? [active.selectionStart, active.selectionEnd] : null,
    panel: panel?.dataset.panel,
    values,
  };
}

/** Rebuilds `li` for the current state of `ticket`, keeping what the user had open, typed or focused. */
export function fillItem(li, ticket, staff = null, note = null) {
  const kept = openState(li);

  const id = ticket.request_id;
  const details = ticket.request_details;
  const analysis = ticket.analysis;
  const priority = ticket.priority.toLowerCase();
  const done = isDone(ticket.status);
  const statusClass = String(ticket.status).replace(/[^a-z_]/g, "");
  li.className = `ticket prio-${priority} status-${statusClass}${done ? " done" : ""}${ticket.status === "resolved" ? " resolved" : ""}${ticket.status === "closed" ? " closed" : ""}`;
  li.dataset.status = ticket.status;

  const head = el("div", "t-head");
  const badge = priorityBadge(ticket.priority);
  badge.title = `Priority score ${ticket.priority_score} of 100`;
  head.append(badge, el("span", "chip", title(analysis.category)));
  const chip = statusChip(ticket);
  if (chip) head.append(chip);
  // The SLA countdown (time.js keeps it current), or a quiet word once done.
  const sla = slaElement(ticket);
  if (sla) head.append(sla);
  if (analysis.needs_review && !done && ticket.priority_source !== "manual") {
    const review = el("span", "chip chip-review", "Review first");
    review.title = "The analyzer rated this CRITICAL although another level was about as likely: a person should check it first.";
    head.append(review);
  }
  if (ticket.priority_source === "manual") {
    const manual = el("span", "chip chip-manual", "Set manually");
    if (ticket.priority_set_by) manual.title = `Priority set by ${ticket.priority_set_by}`;
    head.append(manual);
  }
  if (ticket.linked_to) head.append(linkedChip(ticket.linked_to));
  head.append(ageElement(ticket.created_at));

  const desc = el("p", "t-desc", details.description);
  desc.id = `d-${id}`;

  const meta = el("dl", "t-meta");
  const rows = [["System", details.system], ["Requester", details.requester], ["Team", ticket.team || analysis.team]];
  if (ticket.assignee) rows.push(["Assignee", ticket.assignee]);
  for (const [label, value] of rows) {
    const pair = el("div");
    pair.append(el("dt", "", label), el("dd", "", value));
    meta.append(pair);
  }
  for (const [label, at] of [["Resolved", done ? ticket.resolved_at : null], ["Closed", ticket.status === "closed" ? ticket.closed_at : null]]) {
    if (!at) continue;
    const pair = el("div");
    const dd = el("dd");
    dd.append(ageElement(at));
    pair.append(el("dt", "", label), dd);
    meta.append(pair);
  }

  // The note is one node for the item's whole life, so screen readers
  // hear a refused change once, not again at every rebuild.
  const noteBox = li.querySelector(":scope > .t-note") ?? el("p", "t-note");
  noteBox.setAttribute("role", "status");
  noteBox.setAttribute("aria-live", "polite");
  const noteText = note?.text ?? "";
  if (noteBox.textContent !== noteText) noteBox.textContent = noteText;
  noteBox.className = note?.kind ? `t-note ${note.kind}` : "t-note";

  const parts = [head, desc, meta, why(ticket, kept.why)];
  if (staff) parts.push(staffControls(ticket, staff));
  parts.push(noteBox);
  // The conversation (app.js attaches it) stays in place, open or typed in.
  const conversation = li.querySelector(":scope > .t-conv");
  if (conversation) {
    for (const child of [...li.children]) if (child !== conversation) child.remove();
    conversation.before(...parts);
  } else {
    li.replaceChildren(...parts);
  }

  restore(li, kept);
}

/** The first characters of a ticket id, as tickets are referred to. */
export function shortId(id) {
  return String(id).slice(0, 8);
}

/** "continues #1a2b3c4d": a link to the closed ticket this one was started from. */
function linkedChip(id) {
  const link = el("a", "chip chip-link", `continues #${shortId(id)}`);
  link.href = `#t-${id}`;
  link.dataset.ticketLink = id;
  link.title = "A reply to a closed ticket started this one: go to that ticket";
  return link;
}

/** Puts back the open panel, what was typed in it, and the focus. */
function restore(li, kept) {
  const panel = kept.panel && li.querySelector(`.t-panel[data-panel="${kept.panel}"]`);
  if (panel) {
    showPanel(li, kept.panel, false);
    for (const input of panel.querySelectorAll("input")) {
      if (Object.hasOwn(kept.values, input.name)) input.value = kept.values[input.name];
    }
  }
  if (!kept.focused) return;
  const target = li.querySelector(`[data-action="${kept.focused}"]:not([hidden])`);
  if (target && !target.closest("[hidden]")) {
    target.focus({ preventScroll: true });
    if (kept.selection && target instanceof HTMLInputElement) target.setSelectionRange(...kept.selection);
    return;
  }
  // The control went with the change (e.g. "Take it" once taken): keep the
  // keyboard in this ticket.
  (li.querySelector(".t-admin button, .t-admin select") ?? li.querySelector(".why summary"))?.focus({ preventScroll: true });
}

/** Opens the inline form `name` of `li` (closing any other), or closes every one (`name` null). */
export function showPanel(li, name, focus = true) {
  for (const panel of li.querySelectorAll(".t-panel")) {
    const open = panel.dataset.panel === name;
    panel.hidden = !open;
    const opener = li.querySelector(`[aria-controls="${panel.id}"]`);
    opener?.setAttribute("aria-expanded", String(open));
    if (open && focus) panel.querySelector("input")?.focus();
  }
}

/** The status chip: in progress with its assignee, pending with its reason, resolved, closed (open has none). */
function statusChip(ticket) {
  let text;
  switch (ticket.status) {
    case "in_progress":
      text = ticket.assignee ? `In progress · ${ticket.assignee}` : "In progress";
      break;
    case "pending":
      text = ticket.pending_reason ? `Pending: ${ticket.pending_reason}` : "Pending";
      break;
    case "resolved":
    case "closed":
      text = STATUS_LABELS[ticket.status];
      break;
    default:
      return null;
  }
  const chip = el("span", `chip chip-status chip-${String(ticket.status).replace(/[^a-z_]/g, "").replace("_", "-")}`, text);
  if (ticket.status === "closed") chip.title = "Closed is final: no further changes";
  return chip;
}

function why(ticket, open) {
  const a = ticket.analysis;
  const box = el("details", "why");
  box.open = open;
  const summary = el("summary", "", `Why ${title(ticket.priority)}?`);
  summary.dataset.action = "why";
  box.append(summary);

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

export function button(text, action, describedBy, extra = {}) {
  const b = el("button", `btn btn-small ${extra.className ?? ""}`.trim(), text);
  b.type = "button";
  b.dataset.action = action;
  if (extra.command) b.dataset.command = extra.command;
  if (extra.title) b.title = extra.title;
  b.setAttribute("aria-describedby", describedBy);
  return b;
}

/**
 * The working controls for signed-in staff: only those the ticket's status
 * allows (the lifecycle in the README), plus Delete for admins.
 */
function staffControls(ticket, staff) {
  const id = ticket.request_id;
  const desc = `d-${id}`;
  const me = staff.user;
  const status = ticket.status;
  const working = !isDone(status);
  const bar = el("div", "t-admin");
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Work on this ticket");
  const panels = [];

  if (working) {
    if (ticket.assignee !== me) {
      bar.append(button("Take it", "take", desc, { title: ticket.assignee ? `Assign to me instead of ${ticket.assignee}` : "Assign to me" }));
    }
    if (ticket.assignee) bar.append(button("Unassign", "unassign", desc));

    const assign = button("Assign…", "open-assign", desc, { title: "Assign to someone on the staff" });
    panels.push(panel(id, "assign", assign, [
      ["Assign to", "assignee", "as", { maxLength: 100, placeholder: "Staff name", autocomplete: "off" }],
    ], "Assign"));
    const pending = button(status === "pending" ? "Reason…" : "Pending…", "open-pending", desc, {
      title: status === "pending" ? "Change what it waits for" : "Waiting on the requester or a third party",
    });
    panels.push(panel(id, "pending", pending, [
      ["Waiting for (optional)", "reason", "pr", { maxLength: 500, placeholder: "e.g. the vendor's reply", autocomplete: "off" }],
    ], status === "pending" ? "Save reason" : "Set pending"));
    bar.append(assign, pending);

    if (status === "pending") bar.append(button("Resume", "resume", desc, { command: "reopen", title: "Back to work: in progress when assigned, else open" }));
    bar.append(button("Resolve", "toggle", desc, { command: "resolve" }));
  } else if (status === "resolved") {
    bar.append(button("Reopen", "toggle", desc, { command: "reopen" }));
    bar.append(button("Close", "close", desc, { title: "Closed is final" }));
  } else {
    bar.append(el("span", "t-final", "Closed: final, no further changes."));
  }

  if (status !== "closed") {
    const label = el("label", "inline-label", "Priority");
    const select = el("select", "select-small");
    select.id = `p-${id}`;
    label.htmlFor = select.id;
    select.dataset.action = "priority";
    select.setAttribute("aria-describedby", desc);
    for (const p of PRIORITIES) {
      const option = el("option", "", title(p));
      option.value = p;
      option.selected = p === ticket.priority;
      select.append(option);
    }
    bar.append(label, select);
  }

  if (staff.role === "admin") bar.append(button("Delete", "delete", desc, { className: "btn-danger-quiet" }));

  bar.append(...panels);
  return bar;
}

/** A small inline form opened by `opener`: labelled inputs, a submit button and Cancel. */
function panel(id, name, opener, inputs, submitText) {
  const form = el("form", "t-panel");
  form.id = `${name}-${id}`;
  form.dataset.panel = name;
  form.hidden = true;
  form.noValidate = true;
  opener.setAttribute("aria-controls", form.id);
  opener.setAttribute("aria-expanded", "false");
  for (const [text, inputName, prefix, attrs] of inputs) {
    const input = el("input");
    input.type = "text";
    input.name = inputName;
    input.id = `${prefix}-${id}`;
    input.dataset.action = `${name}-${inputName}`;
    input.maxLength = attrs.maxLength;
    input.placeholder = attrs.placeholder;
    input.autocomplete = attrs.autocomplete;
    const label = el("label", "inline-label", text);
    label.htmlFor = input.id;
    form.append(label, input);
  }
  const submit = el("button", "btn btn-small btn-primary", submitText);
  submit.type = "submit";
  submit.dataset.action = `${name}-submit`;
  const cancel = el("button", "btn btn-small btn-quiet", "Cancel");
  cancel.type = "button";
  cancel.dataset.action = "cancel-panel";
  form.append(submit, cancel);
  return form;
}
