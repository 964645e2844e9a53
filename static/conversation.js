// The conversation under each ticket. A "Conversation" button opens it; opening asks
// `GET /api/tickets/{id}/comments` with the staff Bearer token when signed
// in, else with `?follow=TOKEN` when this browser submitted the ticket, else
// as anyone (public comments). Live `comment_added` / `comment_edited` /
// `comment_deleted` events update it; comments are kept by id, the newest
// state of each winning, so an answer and an event may come in any order.
//
// Internal notes are for staff: the server sends them to staff only, and
// this page also never keeps or shows one while nobody is signed in (they
// are dropped at sign-out). Staff write public replies and internal notes;
// the requester (follow token) writes public replies, which reopen a
// resolved ticket or, on a closed one, start a new ticket continuing it.
// Authors may edit or delete their comments for EDIT_WINDOW_MS (the
// server's default --comment-edit-minutes), admins delete any comment.
// Refusals show in the conversation's status line, never as an alert.

import { checkText, COMMENT_MAX } from "./fields.js";
import { button, el, shortId, title } from "./ticket-view.js";
import { ageElement, full, timeKey } from "./time.js";

const COMMENT_ROLES = { agent: "Agent", admin: "Admin", requester: "Requester" };
/** How long an author may change a comment (the server's default; it decides). */
export const EDIT_WINDOW_MS = 10 * 60_000;

function commentNewer(a, b) {
  if (Boolean(a.deleted_at) !== Boolean(b.deleted_at)) return Boolean(a.deleted_at);
  return timeKey(a.edited_at ?? "") >= timeKey(b.edited_at ?? "");
}

function byOldest(a, b) {
  const x = timeKey(a.created_at);
  const y = timeKey(b.created_at);
  return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** What went wrong with a comment request, in words for the status line. */
function refusal(response, body) {
  const message = body?.error?.message ?? `The server answered HTTP ${response.status}.`;
  switch (body?.error?.code) {
    case "edit_window_closed":
      return `Too late to change it: ${message}`;
    case "forbidden":
      return `Not allowed: ${message}`;
    case "invalid_payload":
      return `Not sent: ${message}`;
    case "invalid_transition":
      return `Not possible now: ${message}`;
    case "rate_limited":
      return "Too many messages right now. Wait a moment and try again.";
    case "not_found":
      return "This ticket was not found: it may have been deleted.";
    default:
      return message;
  }
}

export class Conversations {
  /**
   * @param {object} o
   * @param {HTMLElement} o.list the ticket list (events are delegated from it)
   * @param {() => ({user: string, role: string} | null)} o.staff the signed-in staff member
   * @param {() => (string | null)} o.token the staff Bearer token
   * @param {{get: (id: string) => (string | null), add: (id: string, token: string) => void}} o.follow follow tokens
   * @param {(id: string) => (object | undefined)} o.ticket the ticket as last heard
   * @param {(title: string, text: string, ok: string) => Promise<boolean>} o.confirm
   * @param {(token: string) => void} o.onUnauthorized the server refused this staff token
   * @param {(ticket: object) => void} o.onLinked a reply started a new ticket (its token is kept)
   */
  constructor({ list, staff, token, follow, ticket, confirm, onUnauthorized, onLinked }) {
    Object.assign(this, { list, staff, token, follow, ticket, confirm, onUnauthorized, onLinked });
    /** ticket id -> {open, loaded, loading, comments: Map, unseen, editing, seq}. */
    this.state = new Map();
    /** ticket id -> its .t-conv element. */
    this.boxes = new Map();
    /** Bumped when who reads changes (sign-in, sign-out): older answers are dropped. */
    this.epoch = 0;
    list.addEventListener("click", (e) => this.onClick(e));
    list.addEventListener("submit", (e) => this.onSubmit(e));
    list.addEventListener("keydown", (e) => this.onKeydown(e));
    list.addEventListener("input", (e) => e.target.closest?.(".t-conv textarea")?.removeAttribute("aria-invalid"));
  }

  entry(id) {
    let st = this.state.get(id);
    if (!st) {
      st = { open: false, loaded: false, loading: false, error: "", comments: new Map(), unseen: 0, editing: null, seq: 0 };
      this.state.set(id, st);
    }
    return st;
  }

  /** Whether this page may show `comment`: public, or staff signed in. */
  visible(comment) {
    return comment?.visibility === "public" || (comment?.visibility === "internal" && this.staff() !== null);
  }

  /** Keeps the newest state of `comment` (never an internal one unless staff). */
  merge(st, comment) {
    if (typeof comment?.id !== "string" || typeof comment.created_at !== "string" || !this.visible(comment)) return false;
    const known = st.comments.get(comment.id);
    if (known && !commentNewer(comment, known)) return false;
    st.comments.set(comment.id, comment);
    return true;
  }

  /** The ticket's comments this page may show, oldest first. */
  shown(st) {
    return [...st.comments.values()].filter((c) => this.visible(c)).sort(byOldest);
  }

  // ------------------------------------------------------------ the page

  /** Gives ticket item `li` its conversation (built once, then kept by fillItem) and brings it up to date. */
  attach(li, ticket) {
    const id = ticket.request_id;
    let box = li.querySelector(":scope > .t-conv");
    if (!box) {
      box = this.build(id);
      li.append(box);
    }
    this.boxes.set(id, box);
    this.update(id);
  }

  build(id) {
    const box = el("div", "t-conv");
    const bar = el("div", "c-bar");
    const toggle = el("button", "btn btn-small c-toggle");
    toggle.type = "button";
    toggle.dataset.action = "conv-toggle";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", `conv-${id}`);
    toggle.setAttribute("aria-describedby", `d-${id}`);
    const count = el("span", "c-count");
    count.hidden = true;
    toggle.append(el("span", "", "Conversation"), count);
    const yours = el("span", "chip chip-yours", "Submitted from this browser");
    yours.hidden = true;
    const reopen = el("button", "btn btn-small", "Reopen");
    reopen.type = "button";
    reopen.dataset.action = "conv-reopen";
    reopen.title = "Not solved after all? Reopen your ticket";
    reopen.setAttribute("aria-describedby", `d-${id}`);
    reopen.hidden = true;
    bar.append(toggle, yours, reopen);

    const body = el("div", "c-body");
    body.id = `conv-${id}`;
    body.hidden = true;
    const loading = el("p", "c-loading");
    const comments = el("ol", "comments");
    comments.setAttribute("aria-label", "Messages, oldest first");
    const empty = el("p", "c-empty", "No messages yet.");
    empty.hidden = true;
    const compose = el("div", "c-compose");
    body.append(loading, comments, empty, compose);

    const status = el("p", "form-status c-status");
    status.id = `cs-${id}`;
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    box.append(bar, body, status);
    return box;
  }

  /** Redraws ticket `id`'s conversation from the state. */
  update(id) {
    const box = this.boxes.get(id);
    const ticket = this.ticket(id);
    if (!box || !ticket) return;
    const st = this.state.get(id);
    const staff = this.staff();
    const followed = this.follow.get(id) !== null;
    const open = st?.open ?? false;

    const toggle = box.querySelector(".c-toggle");
    toggle.setAttribute("aria-expanded", String(open));
    const count = box.querySelector(".c-count");
    const n = st?.loaded ? this.shown(st).filter((c) => !c.deleted_at).length : null;
    const countText = n !== null ? String(n) : st?.unseen ? "new" : "";
    count.hidden = countText === "" || n === 0;
    count.replaceChildren(countText, el("span", "visually-hidden", n === null ? " messages" : n === 1 ? " message" : " messages"));
    box.querySelector(".chip-yours").hidden = !followed;
    box.querySelector("[data-action=conv-reopen]").hidden = !(followed && !staff && ticket.status === "resolved");

    const body = box.querySelector(".c-body");
    body.hidden = !open;
    // Drawn even while closed, so nothing this viewer may not see stays in the page.
    if (!st) return;
    const loading = box.querySelector(".c-loading");
    const loadText = st.error ? `The conversation could not be loaded: ${st.error}` : st.loading && !st.loaded ? "Loading the conversation…" : "";
    if (loading.textContent !== loadText) loading.textContent = loadText;
    loading.className = `c-loading${st.error ? " error" : ""}`;
    this.renderComments(id, box, st);
    box.querySelector(".c-empty").hidden = !st.loaded || this.shown(st).length > 0;
    this.renderCompose(id, box, ticket);
  }

  updateAll() {
    for (const id of this.boxes.keys()) this.update(id);
  }

  /** What the viewer may do to `comment` now: "edit", "delete". */
  actionsFor(id, comment, now) {
    if (comment.deleted_at) return [];
    const fresh = now - Date.parse(comment.created_at) < EDIT_WINDOW_MS;
    const staff = this.staff();
    if (staff) {
      const mine = comment.role !== "requester" && comment.author === staff.user && fresh;
      const actions = mine ? ["edit"] : [];
      if (mine || staff.role === "admin") actions.push("delete");
      return actions;
    }
    if (this.follow.get(id) && comment.role === "requester" && fresh) return ["edit", "delete"];
    return [];
  }

  renderComments(id, box, st) {
    const ol = box.querySelector(".comments");
    const now = Date.now();
    const old = new Map([...ol.children].map((node) => [node.dataset.commentId, node]));
    let i = 0;
    for (const comment of this.shown(st)) {
      const actions = this.actionsFor(id, comment, now);
      const editing = st.editing === comment.id && actions.includes("edit");
      const key = `${JSON.stringify(comment)}|${actions.join()}|${editing}`;
      let node = old.get(comment.id);
      old.delete(comment.id);
      if (!node || node.dataset.key !== key) {
        const fresh = this.commentItem(id, comment, actions, editing, node);
        fresh.dataset.key = key;
        if (node) {
          const focused = node.contains(document.activeElement) ? document.activeElement.dataset.action : null;
          node.replaceWith(fresh);
          if (focused) (fresh.querySelector(`[data-action="${focused}"]`) ?? box.querySelector(".c-toggle")).focus({ preventScroll: true });
        }
        node = fresh;
      }
      const at = ol.children[i];
      if (at !== node) ol.insertBefore(node, at ?? null);
      i += 1;
    }
    // Gone from what this page may show (internal notes after a sign-out).
    for (const node of old.values()) node.remove();
  }

  /** One comment as a list item (text only). `previous` is its old item, for an edit in progress. */
  commentItem(id, comment, actions, editing, previous) {
    const internal = comment.visibility !== "public";
    const li = el("li", `comment${internal ? " c-internal" : ""}${comment.role === "requester" ? " c-requester" : ""}${comment.deleted_at ? " c-deleted" : ""}`);
    li.dataset.commentId = comment.id;
    const head = el("div", "c-head");
    head.append(el("strong", "c-author", comment.author), el("span", "c-role", COMMENT_ROLES[comment.role] ?? comment.role));
    if (internal) {
      const label = el("span", "c-internal-label", "Internal note");
      label.title = "Only staff see internal notes";
      head.append(label);
    }
    head.append(ageElement(comment.created_at));
    if (comment.edited_at && !comment.deleted_at) {
      const edited = el("span", "c-edited", "edited");
      edited.title = `Edited ${full(comment.edited_at)}`;
      head.append(edited);
    }
    li.append(head);
    const textId = `cb-${comment.id}`;
    if (comment.deleted_at) {
      const gone = el("p", "c-text c-gone", "(deleted)");
      gone.title = `Deleted ${full(comment.deleted_at)}${comment.deleted_by ? ` by ${comment.deleted_by}` : ""}`;
      li.append(gone);
      return li;
    }
    if (editing) {
      const form = el("form", "c-edit");
      form.noValidate = true;
      const label = el("label", "visually-hidden", "Edit your message");
      const area = el("textarea");
      area.id = `ce-${comment.id}`;
      area.name = "body";
      area.rows = 3;
      area.dataset.action = "c-edit-text";
      area.setAttribute("aria-describedby", `cs-${id}`);
      area.value = previous?.querySelector("textarea")?.value ?? comment.body;
      label.htmlFor = area.id;
      const buttons = el("div", "c-buttons");
      const save = el("button", "btn btn-small btn-primary", "Save");
      save.type = "submit";
      save.dataset.action = "c-save";
      const cancel = el("button", "btn btn-small btn-quiet", "Cancel");
      cancel.type = "button";
      cancel.dataset.action = "c-cancel";
      buttons.append(save, cancel);
      form.append(label, area, buttons);
      li.append(form);
      return li;
    }
    const text = el("p", "c-text", comment.body);
    text.id = textId;
    li.append(text);
    if (actions.length) {
      const bar = el("div", "c-buttons");
      for (const action of actions) {
        const b = el("button", `btn btn-small btn-quiet${action === "delete" ? " btn-danger-quiet" : ""}`, action === "edit" ? "Edit" : "Delete");
        b.type = "button";
        b.dataset.action = `c-${action}`;
        b.setAttribute("aria-describedby", textId);
        bar.append(b);
      }
      li.append(bar);
    }
    return li;
  }

  /** The writing form, as the viewer and the ticket's status allow; rebuilt only when that changes. */
  renderCompose(id, box, ticket) {
    const staff = this.staff();
    const followed = this.follow.get(id) !== null;
    const closed = ticket.status === "closed";
    const mode = staff ? (closed ? "staff-closed" : "staff") : followed ? `requester-${closed ? "closed" : ticket.status === "resolved" ? "resolved" : "open"}` : "none";
    const slot = box.querySelector(".c-compose");
    if (slot.dataset.mode === mode) return;
    slot.dataset.mode = mode;
    const typed = slot.querySelector("textarea")?.value ?? "";
    const hadFocus = slot.contains(document.activeElement);
    if (mode === "none") {
      slot.replaceChildren(el("p", "c-hint", "Staff and the person who submitted this ticket can write here."));
      return;
    }
    if (mode === "staff-closed") {
      slot.replaceChildren(el("p", "c-hint", "Closed: no further messages."));
      return;
    }
    const form = el("form", "c-form");
    form.noValidate = true;
    const area = el("textarea");
    area.id = `ct-${id}`;
    area.name = "body";
    area.rows = 3;
    area.dataset.action = "conv-text";
    area.value = typed;
    const hint = el("p", "c-hint", {
      staff: "A reply is public: the requester and everyone watching the board see it. An internal note is for staff only.",
      "requester-open": "Your reply is public: staff and everyone watching the board see it.",
      "requester-resolved": "This ticket is resolved: replying reopens it.",
      "requester-closed": "This ticket is closed: your reply starts a new ticket that continues it.",
    }[mode]);
    hint.id = `ch-${id}`;
    area.setAttribute("aria-describedby", `ch-${id} cs-${id}`);
    const label = el("label", "", staff ? "Message" : "Your reply");
    label.htmlFor = area.id;
    const buttons = el("div", "c-buttons");
    const send = (text, visibility, className) => {
      const b = el("button", `btn btn-small ${className}`, text);
      b.type = "submit";
      b.dataset.action = `conv-send-${visibility}`;
      b.dataset.visibility = visibility;
      return b;
    };
    if (staff) buttons.append(send("Reply (public)", "public", "btn-primary"), send("Internal note", "internal", "c-btn-internal"));
    else buttons.append(send("Reply", "public", "btn-primary"));
    form.append(label, area, hint, buttons);
    slot.replaceChildren(form);
    if (hadFocus) area.focus({ preventScroll: true });
  }

  /** Says `parts` (text or nodes) in ticket `id`'s status line. */
  say(id, parts, kind = "") {
    const status = this.boxes.get(id)?.querySelector(".c-status");
    if (!status) return;
    status.replaceChildren(...[].concat(parts));
    status.className = `form-status c-status${kind ? ` ${kind}` : ""}`;
  }

  // ------------------------------------------------------------ the server

  /** A request about ticket `id`, as staff (Bearer) or else its requester (follow token) or else anyone. */
  async call(method, id, path = "", payload) {
    const headers = { Accept: "application/json" };
    const token = this.staff() ? this.token() : null;
    const follow = token ? null : this.follow.get(id);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const query = follow ? `?${new URLSearchParams({ follow })}` : "";
    let response;
    try {
      response = await fetch(`/api/tickets/${encodeURIComponent(id)}${path}${query}`, {
        method,
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });
    } catch {
      throw new Error("Could not reach the server. Try again once the connection is back.");
    }
    const body = await response.json().catch(() => null);
    if (response.status === 401 && token) this.onUnauthorized(token);
    return { response, body };
  }

  /** Fetches ticket `id`'s conversation (merged with what events brought meanwhile). */
  async load(id) {
    const st = this.entry(id);
    const epoch = this.epoch;
    const seq = (st.seq += 1);
    st.loading = true;
    st.error = "";
    this.update(id);
    let error = "";
    let comments = null;
    try {
      const { response, body } = await this.call("GET", id, "/comments");
      if (response.ok && Array.isArray(body?.comments)) comments = body.comments;
      else error = refusal(response, body);
    } catch (e) {
      error = e.message;
    }
    if (epoch !== this.epoch || seq !== st.seq || this.state.get(id) !== st) return;
    st.loading = false;
    st.error = error;
    if (comments) {
      for (const comment of comments) this.merge(st, comment);
      st.loaded = true;
      st.unseen = 0;
    }
    this.update(id);
  }

  toggle(id) {
    const st = this.entry(id);
    st.open = !st.open;
    if (st.open && !st.loaded && !st.loading) this.load(id);
    else this.update(id);
  }

  async send(id, form, visibility) {
    const area = form.elements.body;
    const problem = checkText("The message", area.value, COMMENT_MAX);
    if (problem) {
      area.setAttribute("aria-invalid", "true");
      this.say(id, problem, "error");
      area.focus();
      return;
    }
    area.removeAttribute("aria-invalid");
    const staff = this.staff();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    this.say(id, "Sending…");
    try {
      const payload = staff ? { body: area.value, visibility } : { body: area.value };
      const { response, body } = await this.call("POST", id, "/comments", payload);
      if (response.ok && body?.comment) {
        this.merge(this.entry(id), body.comment);
        area.value = "";
        this.say(id, visibility === "internal" ? "Internal note added." : "Reply sent.", "ok");
      } else if (response.ok && body?.ticket?.request_id && body.follow_token) {
        const next = body.ticket.request_id;
        this.follow.add(next, body.follow_token);
        this.update(next);
        area.value = "";
        const link = el("a", "", `#${shortId(next)}`);
        link.href = `#t-${next}`;
        link.dataset.ticketLink = next;
        this.say(id, ["Your reply started a new ticket: ", link, "."], "ok");
        this.onLinked(body.ticket);
      } else {
        if (body?.error?.code === "invalid_payload") area.setAttribute("aria-invalid", "true");
        this.say(id, refusal(response, body), "error");
      }
    } catch (e) {
      this.say(id, e.message, "error");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      this.update(id);
    }
  }

  async saveEdit(id, commentId, form) {
    const area = form.elements.body;
    const problem = checkText("The message", area.value, COMMENT_MAX);
    if (problem) {
      this.say(id, problem, "error");
      area.focus();
      return;
    }
    const st = this.entry(id);
    this.say(id, "Saving…");
    try {
      const { response, body } = await this.call("PATCH", id, `/comments/${encodeURIComponent(commentId)}`, { body: area.value });
      if (response.ok && body?.comment) {
        this.merge(st, body.comment);
        if (st.editing === commentId) st.editing = null;
        this.say(id, "Message updated.", "ok");
        this.update(id);
        this.boxes.get(id)?.querySelector(`[data-comment-id="${commentId}"] button, .c-toggle`)?.focus({ preventScroll: true });
      } else {
        this.say(id, refusal(response, body), "error");
      }
    } catch (e) {
      this.say(id, e.message, "error");
    }
  }

  async remove(id, commentId) {
    const ok = await this.confirm(
      "Delete this message?",
      "It will show as “(deleted)” to everyone who can see the conversation.",
      "Delete message",
    );
    if (!ok) return;
    this.say(id, "Deleting…");
    try {
      const { response, body } = await this.call("DELETE", id, `/comments/${encodeURIComponent(commentId)}`);
      if (response.ok && body?.comment) {
        this.merge(this.entry(id), body.comment);
        this.say(id, "Message deleted.", "ok");
        this.update(id);
      } else {
        this.say(id, refusal(response, body), "error");
      }
    } catch (e) {
      this.say(id, e.message, "error");
    }
  }

  /** The requester's Reopen (with the follow token): the ticket_updated broadcast shows it. */
  async reopen(id) {
    const follow = this.follow.get(id);
    if (!follow) return;
    this.say(id, "Reopening…");
    let response;
    let body = null;
    try {
      response = await fetch(`/api/tickets/${encodeURIComponent(id)}/reopen?${new URLSearchParams({ follow })}`, {
        method: "POST",
        headers: { Accept: "application/json" },
      });
      body = await response.json().catch(() => null);
    } catch {
      this.say(id, "Could not reach the server. Try again once the connection is back.", "error");
      return;
    }
    if (response.ok) this.say(id, "Reopened: the ticket is back with the staff.", "ok");
    else this.say(id, refusal(response, body), "error");
  }

  // ------------------------------------------------------------ events

  onClick(e) {
    const button = e.target.closest("button[data-action]");
    const id = button?.closest(".t-conv") && button.closest("li[data-id]")?.dataset.id;
    if (!id) return;
    const st = this.entry(id);
    const commentId = button.closest("[data-comment-id]")?.dataset.commentId;
    switch (button.dataset.action) {
      case "conv-toggle":
        this.toggle(id);
        break;
      case "conv-reopen":
        this.reopen(id);
        break;
      case "c-edit":
        st.editing = commentId;
        this.say(id, "");
        this.update(id);
        this.boxes.get(id)?.querySelector(`#ce-${CSS.escape(commentId)}`)?.focus();
        break;
      case "c-cancel":
        this.cancelEdit(id, st);
        break;
      case "c-delete":
        this.remove(id, commentId);
        break;
      default:
    }
  }

  cancelEdit(id, st) {
    const commentId = st.editing;
    st.editing = null;
    this.update(id);
    this.boxes.get(id)?.querySelector(`[data-comment-id="${commentId}"] [data-action=c-edit]`)?.focus();
  }

  onSubmit(e) {
    const form = e.target.closest(".t-conv form");
    const id = form?.closest("li[data-id]")?.dataset.id;
    if (!id) return;
    e.preventDefault();
    if (form.classList.contains("c-edit")) this.saveEdit(id, form.closest("[data-comment-id]").dataset.commentId, form);
    else this.send(id, form, e.submitter?.dataset.visibility === "internal" ? "internal" : "public");
  }

  onKeydown(e) {
    if (e.key !== "Escape") return;
    const form = e.target.closest?.(".t-conv form.c-edit");
    const id = form?.closest("li[data-id]")?.dataset.id;
    if (!id) return;
    e.preventDefault();
    this.cancelEdit(id, this.entry(id));
  }

  /** A live comment_added / comment_edited / comment_deleted. */
  apply(event, data) {
    const id = data?.ticket_id;
    const comment = data?.comment;
    if (typeof id !== "string" || !this.visible(comment)) return;
    const st = this.entry(id);
    const known = st.comments.has(comment.id);
    if (!this.merge(st, comment)) return;
    if (event === "comment_added" && !known && !st.loaded) st.unseen += 1;
    this.update(id);
  }

  /** After a (re)connection: events may have been missed, so open conversations are asked again. */
  resync() {
    for (const [id, st] of this.state) {
      if (st.open) this.load(id);
      else {
        st.loaded = false;
        st.unseen = 0;
        this.update(id);
      }
    }
  }

  /** Who is signed in changed: internal notes go (signed out) or are fetched (signed in). */
  staffChanged() {
    this.epoch += 1;
    for (const st of this.state.values()) {
      for (const [commentId, comment] of st.comments) if (!this.visible(comment)) st.comments.delete(commentId);
      st.editing = null;
      st.loading = false;
    }
    for (const [id, box] of this.boxes) {
      this.say(id, "");
      box.querySelector(".c-compose").dataset.mode = "";
    }
    this.resync();
    this.updateAll();
  }

  /** A ticket left the board. */
  forget(id) {
    this.state.delete(id);
    this.boxes.delete(id);
  }

  /** Edit windows close with time. */
  tick() {
    for (const [id, st] of this.state) if (st.open) this.update(id);
  }
}
