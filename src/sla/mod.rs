//! Service-level agreements: business calendars, targets per priority level,
//! and the clocks a ticket stores.
//!
//! This module owns the arithmetic of SLA deadlines and nothing else: it is
//! pure (no I/O, no clock of its own: every function takes `now`) and
//! depends on no other module of the crate, so the service, the store and
//! the transports can all call it, and it can be tested exhaustively.
//!
//! - [`calendar`]: [`Calendar`], working windows in an IANA zone with
//!   holidays; business seconds between two instants, and the instant a
//!   number of business seconds is used up. Exact across DST changes.
//! - [`policy`]: [`Policy`], the calendar, targets per [`Level`] and the
//!   at-risk thresholds, parsed from TOML (format in that module's doc) or
//!   the built-in [`Policy::default`].
//! - [`clock`]: [`Clock`], the state a ticket stores per target, and
//!   [`ClockView`], the due instant and [`ClockState`] it shows; [`Sla`] is
//!   a ticket's pair of clocks.
//!
//! Instants are `DateTime<Utc>`, durations business seconds (`i64`); the
//! policy file speaks business minutes.

pub mod calendar;
pub mod clock;
pub mod policy;

pub use calendar::{Calendar, HORIZON_DAYS, Window};
pub use clock::{Clock, ClockState, ClockView, Risk, Sla, SlaView};
pub use policy::{Level, Policy, PolicyError, TargetTable, Targets};
