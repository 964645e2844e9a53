// The WebSocket to /ws: reconnects with backoff, resumes where it left off,
// ties replies to requests by `ref`.
//
// Every change event carries the store version `v` it made. The connection
// remembers the stream's `epoch` and the highest `v` it handed on, and
// reconnects with `/ws?epoch=E&since=V`. The server then either replays the
// changes missed meanwhile (as normal change events, then `sync_state` with
// `recovered: true`, and no `initial_tickets`) or, when it cannot (another
// epoch, a gap longer than its replay ring), does a full first sync:
// `initial_tickets`, then `sync_state` with `recovered: false`. The
// connection is live once `sync_state` arrives. A change event at or below
// the version already handed on is dropped, so nothing is applied twice.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
/** After this many failed attempts in a row the indicator says "offline". */
const OFFLINE_AFTER = 4;
/** A request with no reply in this long is reported as failed. */
const REPLY_TIMEOUT_MS = 15000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isVersion(v) {
  return Number.isSafeInteger(v) && v >= 0;
}

export class Connection {
  /**
   * @param {object} handlers
   * @param {(event: string, data: any, meta: {v?: number, replay?: boolean}) => void} handlers.onEvent
   *   broadcasts and unsolicited frames, in order: `initial_tickets` (a full sync only) then
   *   `sync_state`; change events with their version `v`; `replay` is true for the events a
   *   resumed connection replays before its `sync_state`
   * @param {(state: string, detail: string) => void} handlers.onState "connecting" | "connected" | "reconnecting" | "offline",
   *   and when the next attempt is ("in 4 s") or ""
   */
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.socket = null;
    this.failures = 0;
    this.timer = null;
    this.nextRef = 1;
    /** ref -> {resolve, reject, timer} for requests awaiting their reply. */
    this.pending = new Map();
    /** The stream's epoch, from the last `sync_state`. */
    this.epoch = null;
    /** The highest version applied (from `sync_state.v` and change events' `v`). */
    this.version = null;
    /** This socket's `initial_tickets`, held until its `sync_state`. */
    this.snapshot = null;
    /** Change events that came between `initial_tickets` and `sync_state`. */
    this.held = [];
    /** Whether this socket's `sync_state` arrived. */
    this.synced = false;
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => this.socket?.close());
  }

  get connected() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start() {
    this.open();
  }

  retryNow() {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.timer);
    this.open();
  }

  /** `/ws`, with where to resume from when there is a stream to resume. */
  url() {
    let url = `wss://${location.host}/ws`;
    if (this.epoch !== null && this.version !== null) {
      url += `?${new URLSearchParams({ epoch: this.epoch, since: String(this.version) })}`;
    }
    return url;
  }

  open() {
    this.timer = null;
    this.snapshot = null;
    this.held = [];
    this.synced = false;
    this.onState(this.failures === 0 ? "connecting" : this.stateWhileDown(), "");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("message", (msg) => {
      if (this.socket === socket) this.receive(msg.data);
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failAll("The connection was lost before the server answered.");
      this.schedule();
    });
    // "error" is always followed by "close"; nothing to do here.
  }

  stateWhileDown() {
    return this.failures >= OFFLINE_AFTER || !navigator.onLine ? "offline" : "reconnecting";
  }

  schedule() {
    const base = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    const seconds = Math.max(1, Math.round(delay / 1000));
    this.onState(this.stateWhileDown(), `in ${seconds} s`);
    this.timer = setTimeout(() => this.open(), delay);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const { event, data } = frame;
    if (event === "initial_tickets") {
      // A full sync: handed on with its sync_state, which says its version.
      this.snapshot = Array.isArray(data) ? data : [];
      this.held = [];
      return;
    }
    if (event === "sync_state") {
      this.sync(data ?? {});
      return;
    }
    if (isVersion(frame.v)) {
      this.change(frame);
      return;
    }
    const waiting = frame.ref !== undefined && this.pending.get(frame.ref);
    if (waiting) {
      this.pending.delete(frame.ref);
      clearTimeout(waiting.timer);
      if (event === "error") waiting.reject(new ServerError(data.code, data.message));
      else waiting.resolve({ event, data });
      if (event !== "stats_update") return;
    }
    this.onEvent(event, data, {});
  }

  /** A change event: applied once, in version order. */
  change(frame) {
    if (this.snapshot !== null) {
      // Between a snapshot and its sync_state: only the sync_state says
      // which of these the snapshot already holds.
      this.held.push(frame);
      return;
    }
    if (this.version !== null && frame.v <= this.version) return;
    this.version = frame.v;
    this.onEvent(frame.event, frame.data, { v: frame.v, replay: !this.synced });
  }

  sync(state) {
    const snapshot = this.snapshot;
    const held = this.held;
    this.snapshot = null;
    this.held = [];
    this.synced = true;
    this.epoch = typeof state.epoch === "string" && UUID.test(state.epoch) ? state.epoch : null;
    if (!state.recovered) this.onEvent("initial_tickets", snapshot ?? [], {});
    if (isVersion(state.v)) this.version = state.v;
    else this.epoch = null;
    // Connected for real only once the stream is in sync.
    this.failures = 0;
    this.onState("connected", "Live");
    this.onEvent("sync_state", state, {});
    for (const frame of held) this.change(frame);
  }

  /** Sends a client event; resolves with the direct reply, rejects with a ServerError. */
  request(event, data) {
    if (!this.connected) {
      return Promise.reject(new ServerError("offline", "Not connected to the server. Wait for the indicator to turn green, then try again."));
    }
    const ref = `r${this.nextRef++}`;
    const frame = data === undefined ? { event, ref } : { event, data, ref };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new ServerError("timeout", "The server did not answer in time."));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
      this.socket.send(JSON.stringify(frame));
    });
  }

  failAll(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new ServerError("disconnected", message));
    }
    this.pending.clear();
  }
}

/** An `error` reply from the server, or a local failure with the same shape. */
export class ServerError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
