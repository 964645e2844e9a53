//! ticketd: a real-time IT maintenance ticketing gateway.
//!
//! People submit maintenance tickets over WSS or HTTPS; an analyzer assigns
//! each an ITIL priority with an explanation; the ticket is made durable and
//! every connected client hears of it at once.
//!
//! # Layout
//! Data flows top to bottom: a transport parses a request, calls the
//! service, the service asks triage and the store, and the store's writer
//! announces each durable change on the event bus, which every transport
//! fans out to its clients.
//!
//! - [`config`]: the command line and environment (clap).
//! - [`tickets`]: domain types: `Ticket`, parsed fields, commands, the lifecycle (statuses,
//!   roles, allowed transitions; `tickets::lifecycle`), the conversation and follow tokens'
//!   hash (`tickets::conversation`), what the lifecycle does to the SLA clocks
//!   (`tickets::service_level`), listing filters, page cursors and the first-sync window
//!   (`tickets::query`), the CSV columns and their neutralising (`tickets::export`), the
//!   analytics figures: buckets, backlog, percentiles, SLA compliance (`tickets::analytics`).
//! - [`triage`]: the analyzer: text in, impact/urgency/priority/category/explanation out. Pure.
//! - [`store`]: the durable store: group-committing writer, journal, atomic snapshot, recovery;
//!   whole-store export and import (`store::dump`).
//! - [`events`]: outgoing events, encoded once (change events with their version), and the broadcast bus.
//! - [`stream`]: the versioned stream clients follow: resume requests, the replay ring.
//! - [`service`]: the one application API every transport calls (with the conversation,
//!   the SLA timer, the CSV export walk and the analytics snapshot in its own files).
//! - [`sla`]: SLA deadlines: business calendars (zones, DST, holidays), targets per level, ticket clocks. Pure.
//! - [`auth`]: argon2id credentials with staff roles, and JWT sessions.
//! - [`audit`]: the audit trail of staff actions, logins and refusals (JSON Lines, synced).
//! - [`protocol`]: the client events (`submit_ticket`, `get_stats`, `admin_command`,
//!   `authenticate`) and a socket's staff session, transport-neutral.
//! - [`limits`]: rate limits (governor, keyed per client address), connection caps, who the client is.
//! - [`origin`]: the server's own web origins (WebSocket `Origin` check, HTTP redirect target).
//! - [`state`]: what handlers share (`AppState`).
//! - [`metrics`]: every Prometheus metric, with small record helpers.
//! - [`notify`]: outbound notifications (signed webhooks, Slack, Teams, email) fed from a
//!   durable outbox the service fills before each change is announced.
//! - [`api_error`]: the one JSON error shape of every HTTP answer, shared by the transports.
//! - [`http`]: axum routes: the JSON API, health, `/metrics`, the request-id
//!   and metrics layer, the embedded browser app; the protective layers
//!   (security headers, rate limit, body limit, timeout, panics).
//! - [`ws`]: the `/ws` transport: frames, the per-client session loop.
//! - [`socketio`]: the Socket.IO transport at `/socket.io/` (socketioxide):
//!   the original system's clients, the same protocol and bus as `/ws`.
//! - [`server`]: TLS and its SIGHUP reload, the listeners, signals, the
//!   systemd notify protocol, graceful shutdown, wiring.
//! - [`cli`]: the offline subcommands (`triage`, `triage-eval`, `hash-password`).
//! - [`telemetry`]: logging set-up and request ids.
//!
//! The core (`tickets`, `triage`, `store`, `events`, `stream`, `service`, `protocol`,
//! `auth`, `audit`) and the policy modules (`limits`, `origin`) never import a
//! transport crate.

pub mod api_error;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod events;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod origin;
pub mod protocol;
pub mod server;
pub mod service;
pub mod sla;
pub mod socketio;
pub mod state;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod tickets;
pub mod triage;
pub mod ws;
