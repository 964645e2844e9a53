// The official Socket.IO client resuming a stream, driven by tests/sync.rs.
//
//   node sync-client.mjs URL [AUTH_JSON]
//
// Connects over WebSocket only, with `auth` set to AUTH_JSON when given
// (e.g. {"epoch": "...", "since": 12}). The server's CA comes from
// NODE_EXTRA_CA_CERTS. Every line on standard output is one JSON object:
//
//   {"type": "connect"}
//   {"type": "connect_error", "message": ...}
//   {"type": "disconnect", "message": ...}
//   {"type": "event", "event": NAME, "args": [ARG, ...]}   (every argument)
//
// A line `{"close": true}` on standard input closes the client and exits.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, authJson] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const options = { transports: ["websocket"], reconnection: false };
if (authJson) {
  options.auth = JSON.parse(authJson);
}
const socket = io(url, options);

socket.on("connect", () => print({ type: "connect" }));
socket.on("connect_error", (err) => print({ type: "connect_error", message: String(err.message) }));
socket.on("disconnect", (reason) => print({ type: "disconnect", message: reason }));
socket.onAny((event, ...args) => print({ type: "event", event, args }));

createInterface({ input: process.stdin }).on("line", (line) => {
  if (JSON.parse(line).close) {
    socket.close();
    process.exit(0);
  }
});
