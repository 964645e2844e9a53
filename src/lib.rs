//! ticketd: a real-time IT maintenance ticketing gateway.
pub mod triage;
