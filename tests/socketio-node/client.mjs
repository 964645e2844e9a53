// The official Socket.IO client, driven by tests/socketio.rs.
//
//   node client.mjs URL TRANSPORTS
//
// TRANSPORTS is `websocket` (WebSocket only) or `polling` (long-polling,
// then the usual upgrade to WebSocket). The server's CA comes from
// NODE_EXTRA_CA_CERTS. Every line on standard input is a command; every
// line on standard output is one JSON object the test reads:
//
//   in:  {"emit": NAME, "data": VALUE, "ack": true}   (data may be absent)
//   in:  {"close": true}
//   out: {"type": "open", "transport": "polling"}
//        {"type": "connect"}
//        {"type": "upgrade", "transport": "websocket"}
//        {"type": "event", "event": NAME, "data": VALUE}
//        {"type": "ack", "event": NAME, "data": VALUE}
//        {"type": "connect_error" | "disconnect", "message": ...}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, transports] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(url, {
  transports: transports === "websocket" ? ["websocket"] : ["polling", "websocket"],
  reconnection: false,
});

// The Engine.IO connection opened (its first transport), before any upgrade.
socket.io.on("open", () => {
  const engine = socket.io.engine;
  print({ type: "open", transport: engine.transport.name });
  engine.on("upgrade", (transport) => print({ type: "upgrade", transport: transport.name }));
});
socket.on("connect", () => print({ type: "connect" }));
socket.on("connect_error", (err) => print({ type: "connect_error", message: String(err.message) }));
socket.on("disconnect", (reason) => print({ type: "disconnect", message: reason }));
socket.onAny((event, data) => print({ type: "event", event, data: data ?? null }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.close) {
    socket.close();
    process.exit(0);
  }
  const args = "data" in command ? [command.data] : [];
  if (command.ack) {
    args.push((data) => print({ type: "ack", event: command.emit, data: data ?? null }));
  }
  socket.emit(command.emit, ...args);
});
