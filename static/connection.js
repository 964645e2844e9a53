// The WebSocket to /ws: reconnects with backoff, ties replies to requests by `ref`.
//
// The server sends `initial_tickets` first on every connection, so a
// reconnect is a full resync: the caller replaces its state with that list.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
/** After this many failed attempts in a row the indicator says "offline". */
const OFFLINE_AFTER = 4;
/** A request with no reply in this long is reported as failed. */
const REPLY_TIMEOUT_MS = 15000;

export class Connection {
  /**
   * @param {object} handlers
   * @param {(event: string, data: any) => void} handlers.onEvent broadcasts and unsolicited frames
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

  open() {
    this.timer = null;
    this.onState(this.failures === 0 ? "connecting" : this.stateWhileDown(), "");
    const socket = new WebSocket(`wss://${location.host}/ws`);
    this.socket = socket;
    socket.addEventListener("message", (msg) => this.receive(msg.data));
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
      // Connected for real only once the snapshot arrived.
      this.failures = 0;
      this.onState("connected", "Live");
    }
    const waiting = frame.ref !== undefined && this.pending.get(frame.ref);
    if (waiting) {
      this.pending.delete(frame.ref);
      clearTimeout(waiting.timer);
      if (event === "error") waiting.reject(new ServerError(data.code, data.message));
      else waiting.resolve({ event, data });
      if (event !== "stats_update") return;
    }
    this.onEvent(event, data);
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
