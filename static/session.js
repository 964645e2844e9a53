// The staff session (agents and admins sign in the same way):
// POST /api/auth/login gives a bearer token and the role, kept only in this
// tab's sessionStorage (gone when the tab closes; never localStorage or a
// cookie). The token goes with every admin_command; the server checks it,
// and the role, each time. The session ends at its expiry, on sign-out, or
// when the server refuses the token (for example after a restart with a new
// signing key).
//
// Requesters have no accounts: submitting a ticket from this browser gives
// its follow token (a 64-hex secret the server keeps only hashed), kept in
// localStorage by FollowTokens so the submitter can come back to "My
// tickets", read and answer the public conversation, and reopen the ticket.
// The token goes to the server only as `?follow=` on that ticket's URLs.

const KEY = "ticketd.admin";

const ROLES = ["agent", "admin"];

/** A role as the server names it; tokens from before roles existed are admins'. */
function roleOf(raw) {
  return ROLES.includes(raw) ? raw : "admin";
}

export class Session {
  /** @param {(session: {user: string, role: "agent" | "admin", expiresAt: string} | null, reason?: string) => void} onChange */
  constructor(onChange) {
    this.onChange = onChange;
    this.current = null;
    this.timer = null;
  }

  get token() {
    return this.current?.token ?? null;
  }

  /** Restores a session saved in this tab, if the server still accepts it. */
  async restore() {
    let saved;
    try {
      saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    } catch {
      saved = null;
    }
    if (!saved?.token) return;
    // Saved before roles: {token, admin, expiresAt}.
    saved = { token: saved.token, user: saved.user ?? saved.admin, role: roleOf(saved.role), expiresAt: saved.expiresAt };
    try {
      const response = await fetch("/api/auth/session", { headers: { Authorization: `Bearer ${saved.token}` } });
      if (!response.ok) {
        this.end("Your session has ended. Sign in again.");
        return;
      }
      const body = await response.json();
      this.begin({ token: saved.token, user: body.user ?? body.admin, role: roleOf(body.role), expiresAt: body.expires_at });
    } catch {
      // The server is unreachable: keep the token; commands will tell.
      this.begin(saved);
    }
  }

  async login(username, password) {
    const response = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (response.status === 401) throw new Error("Wrong username or password.");
      if (response.status === 429) throw new Error("Too many attempts. Wait a moment and try again.");
      throw new Error(body?.error?.message ?? `Sign-in failed (HTTP ${response.status}).`);
    }
    this.begin({ token: body.token, user: username, role: roleOf(body.role), expiresAt: body.expires_at });
  }

  async logout() {
    const token = this.token;
    this.end();
    if (!token) return;
    // Best effort: the token is forgotten here whatever the server says.
    await fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
  }

  begin(session) {
    this.current = session;
    sessionStorage.setItem(KEY, JSON.stringify(session));
    clearTimeout(this.timer);
    const left = Date.parse(session.expiresAt) - Date.now();
    // setTimeout holds at most ~24.8 days; sessions are far shorter.
    this.timer = setTimeout(() => this.end("Your session expired. Sign in again."), Math.max(0, Math.min(left, 2 ** 31 - 1)));
    this.onChange({ user: session.user, role: session.role, expiresAt: session.expiresAt });
  }

  /** Forgets the session; `reason` is shown to the user. */
  end(reason) {
    clearTimeout(this.timer);
    sessionStorage.removeItem(KEY);
    const had = this.current !== null;
    this.current = null;
    if (had || reason) this.onChange(null, reason);
  }
}

const FOLLOW_KEY = "ticketd.follow";
/** The most tickets remembered: the oldest go first. */
const MAX_FOLLOWED = 200;
const TOKEN = /^[0-9a-f]{64}$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The follow tokens of the tickets submitted from this browser: `[{request_id, follow_token}]`, oldest first. */
export class FollowTokens {
  /** @param {() => void} onChange another tab changed them */
  constructor(onChange) {
    this.entries = this.read();
    window.addEventListener("storage", (e) => {
      if (e.key !== FOLLOW_KEY) return;
      this.entries = this.read();
      onChange();
    });
  }

  read() {
    let saved;
    try {
      saved = JSON.parse(localStorage.getItem(FOLLOW_KEY) ?? "[]");
    } catch {
      saved = [];
    }
    if (!Array.isArray(saved)) return [];
    return saved.filter((e) => ID.test(e?.request_id ?? "") && TOKEN.test(e?.follow_token ?? ""));
  }

  /** The ticket's follow token, or null. */
  get(id) {
    return this.entries.find((e) => e.request_id === id)?.follow_token ?? null;
  }

  ids() {
    return new Set(this.entries.map((e) => e.request_id));
  }

  /**
   * Takes a follow link from an email (`#follow=ID:TOKEN`: a fragment, so it
   * never reaches a server's log or a Referer) into the remembered tokens
   * and removes it from the address bar. Returns the ticket id, or null.
   */
  takeFromLocation() {
    const match = /^#follow=([0-9a-fA-F-]{36}):([0-9a-f]{64})$/.exec(window.location.hash);
    if (!match) return null;
    this.add(match[1].toLowerCase(), match[2]);
    history.replaceState(null, "", window.location.pathname + window.location.search);
    return match[1].toLowerCase();
  }

  add(id, token) {
    if (!ID.test(id ?? "") || !TOKEN.test(token ?? "")) return;
    this.entries = [...this.entries.filter((e) => e.request_id !== id), { request_id: id, follow_token: token }].slice(-MAX_FOLLOWED);
    try {
      localStorage.setItem(FOLLOW_KEY, JSON.stringify(this.entries));
    } catch {
      // Storage full or refused: kept for this page only.
    }
  }
}
