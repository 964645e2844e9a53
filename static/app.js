// A first live board: submit tickets and watch every change arrive.
const list = document.getElementById("tickets");
const conn = document.getElementById("conn");
const form = document.getElementById("submit");
const formError = document.getElementById("form-error");
const tickets = new Map();
let socket;

function render() {
  list.replaceChildren();
  const sorted = [...tickets.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  for (const t of sorted) {
    const li = document.createElement("li");
    li.className = t.status;
    const badge = document.createElement("span");
    badge.className = "badge " + t.priority.toLowerCase();
    badge.textContent = t.priority;
    const text = document.createElement("span");
    text.textContent = ` ${t.request_details.system}: ${t.request_details.description}`;
    li.append(badge, text);
    list.append(li);
  }
}

function connect() {
  socket = new WebSocket(`wss://${location.host}/ws`);
  socket.onopen = () => { conn.textContent = "connected"; conn.className = "conn online"; };
  socket.onclose = () => {
    conn.textContent = "reconnecting"; conn.className = "conn reconnecting";
    setTimeout(connect, 1000);
  };
  socket.onmessage = (msg) => {
    const { event, data } = JSON.parse(msg.data);
    switch (event) {
      case "initial_tickets": tickets.clear(); data.forEach((t) => tickets.set(t.request_id, t)); break;
      case "new_ticket": case "ticket_updated": case "ticket_resolved": tickets.set(data.request_id, data); break;
      case "ticket_deleted": tickets.delete(data.ticket_id); break;
      case "all_tickets_cleared": tickets.clear(); break;
      case "error": formError.textContent = data.message; return;
      default: return;
    }
    render();
  };
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  formError.textContent = "";
  const data = Object.fromEntries(new FormData(form));
  socket.send(JSON.stringify({ event: "submit_ticket", data }));
  form.reset();
});

connect();
