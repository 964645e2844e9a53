//! Analytics: the figures of `GET /api/analytics` over every ticket in the
//! store.
//!
//! The store is read once: a snapshot of its tickets (shared `Arc`s, no
//! ticket copied) taken under its read lock, which is released at once. The
//! figures are then worked out (`tickets::analytics`, one pass) on tokio's
//! blocking pool, so a large store never holds up the tasks serving sockets.
//! The time of the request is taken here, once, and used both for the
//! defaults of the range and as the report's "now", so both agree. No
//! ticket text leaves this call, so unlike the CSV export it is not audited.

use chrono::Utc;

use super::Service;
use crate::tickets::analytics::{self, Analytics, AnalyticsQuery};
use crate::tickets::query::ParamError;

impl Service {
    /// The report `query` asks for, now; a range it cannot cover (`from`
    /// not before `to`, too many buckets) is refused naming the parameter.
    pub async fn analytics(&self, query: &AnalyticsQuery) -> Result<Analytics, ParamError> {
        let now = Utc::now();
        let range = query.range(now)?;
        let tickets = self.tickets();
        let work = move || analytics::compute(tickets.iter().map(|t| &**t), &range, now);
        match tokio::task::spawn_blocking(work).await {
            Ok(report) => Ok(report),
            // A panic in the computation stays a panic (the HTTP layer
            // answers 500); the blocking pool only goes at shutdown.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
