//! Metric definitions and small record helpers.
//!
//! One [`Metrics`] holds every ticketd metric in its own
//! `prometheus::Registry` (plus the process collector: CPU, memory, open
//! files), served as text by the metrics listener. Names follow Prometheus
//! conventions: a `ticketd_` prefix, base units, `_total` on counters,
//! histograms for durations.
//!
//! Every label value is a `&'static str` from a fixed set (an event name, a
//! route template, an error code), never an address, a raw path, an id or
//! anything a client typed: the number of series is bounded by the code, not
//! by the traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::events::Event;
use crate::protocol::ClientEvent;
use crate::service::ErrorCode;
use crate::store::Stats;
use crate::triage::Priority;

/// The label value for a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Every ticketd metric.
pub struct Metrics {
    registry: Registry,
    /// `ticketd_ws_clients`: open WebSocket sessions.
    ws_clients: IntGauge,
    /// `ticketd_ws_messages_received_total{event,outcome}`.
    ws_received: IntCounterVec,
    /// `ticketd_ws_events_sent_total{event}`.
    ws_sent: IntCounterVec,
    /// The `ws_sent` children of the known events, resolved once: a
    /// broadcast to thousands of clients costs one atomic add per client
    /// instead of a label lookup.
    ws_sent_by_event: HashMap<&'static str, IntCounter>,
    /// `ticketd_ws_slow_client_disconnects_total{reason}`.
    ws_slow: IntCounterVec,
    /// `ticketd_socketio_clients`: Socket.IO clients connected to the
    /// default namespace.
    socketio_clients: IntGauge,
    /// `ticketd_socketio_messages_received_total{event,outcome}`.
    socketio_received: IntCounterVec,
    /// `ticketd_socketio_events_sent_total{event}`, with its known children
    /// resolved once (as for `ws_sent`).
    socketio_sent: IntCounterVec,
    socketio_sent_by_event: HashMap<&'static str, IntCounter>,
    /// `ticketd_socketio_slow_client_disconnects_total{reason}`.
    socketio_slow: IntCounterVec,
    /// `ticketd_http_requests_total{route,method,status}`.
    http_requests: IntCounterVec,
    /// `ticketd_http_request_duration_seconds{route,method}`.
    http_duration: HistogramVec,
    /// `ticketd_store_commit_duration_seconds`: append plus fdatasync.
    commit_duration: Histogram,
    /// `ticketd_store_commit_batch_size`: changes per group commit.
    commit_batch: Histogram,
    /// `ticketd_store_commit_failures_total`.
    commit_failures: IntCounter,
    /// `ticketd_store_size_bytes`: snapshot plus journals.
    store_bytes: IntGauge,
    /// `ticketd_store_writable`: 1, or 0 once a write failed.
    store_writable: IntGauge,
    /// `ticketd_database_connections{state}`: the shared store's pool.
    database_connections: IntGaugeVec,
    /// `ticketd_database_tailer_lag`: versions behind the database.
    database_lag: IntGauge,
    /// `ticketd_database_notification_queue_usage`: 0 to 1.
    database_queue: prometheus::Gauge,
    /// `ticketd_database_commit_conflicts_total`.
    database_conflicts: IntCounter,
    /// `ticketd_tickets{status}`.
    tickets: IntGaugeVec,
    /// `ticketd_tickets_by_priority{priority}`.
    tickets_by_priority: IntGaugeVec,
    /// `ticketd_rate_limited_total{scope}`.
    rate_limited: IntCounterVec,
    /// `ticketd_rate_limiter_keys{scope}`: keys a keyed limiter holds.
    rate_limiter_keys: IntGaugeVec,
    /// `ticketd_logins_total{outcome}`.
    logins: IntCounterVec,
    /// `ticketd_admin_actions_total{command}`.
    admin_actions: IntCounterVec,
    /// `ticketd_sla_breaches_total{clock,priority}`.
    sla_breaches: IntCounterVec,
    /// `ticketd_sla_warnings_total{clock,priority}`.
    sla_warnings: IntCounterVec,
    /// `ticketd_notify_deliveries_total{endpoint,outcome}`: attempts by
    /// result (`delivered`, `retry`, `failed`).
    notify_deliveries: IntCounterVec,
    /// `ticketd_notify_queue_depth{endpoint}`: deliveries not yet done.
    notify_queue: IntGaugeVec,
    /// `ticketd_notify_oldest_pending_seconds{endpoint}`.
    notify_oldest: IntGaugeVec,
    /// `ticketd_notify_endpoint_disabled{endpoint}`: 1 once disabled.
    notify_disabled: IntGaugeVec,
    /// `ticketd_tls_certificate_expiry_timestamp_seconds`: the serving
    /// certificate's notAfter.
    tls_expiry: IntGauge,
    /// `ticketd_tls_reloads_total{outcome}`.
    tls_reloads: IntCounterVec,
    /// Serializes [`Metrics::observe_store`], which brings a counter up to
    /// a total kept elsewhere. A std Mutex, never held across an `.await`.
    store_sync: Mutex<()>,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let metric =
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

impl Metrics {
    /// Defines and registers every metric; label values known in advance
    /// start at zero, so rates and alerts have a series from the first
    /// scrape.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;

        let build_info = gauge_vec(
            r,
            "ticketd_build_info",
            "Always 1; the version label says which ticketd is running.",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        let ws_clients = gauge(r, "ticketd_ws_clients", "Open WebSocket sessions.");
        let ws_received = counter_vec(
            r,
            "ticketd_ws_messages_received_total",
            "WebSocket messages received, by client event (`invalid` when the frame did not parse) and outcome (`ok` or the error code).",
            &["event", "outcome"],
        );
        for event in ClientEvent::NAMES {
            ws_received.with_label_values(&[event, "ok"]);
        }
        let ws_sent = counter_vec(
            r,
            "ticketd_ws_events_sent_total",
            "Events sent to WebSocket clients, by event (a broadcast counts once per client).",
            &["event"],
        );
        let ws_sent_by_event = Event::NAMES
            .iter()
            .map(|name| (*name, ws_sent.with_label_values(&[name])))
            .collect();
        let ws_slow = counter_vec(
            r,
            "ticketd_ws_slow_client_disconnects_total",
            "WebSocket clients disconnected for being too slow: `lagged` (fell behind the broadcast) or `send_timeout` (stopped reading).",
            &["reason"],
        );
        for reason in ["lagged", "send_timeout"] {
            ws_slow.with_label_values(&[reason]);
        }

        let socketio_clients = gauge(
            r,
            "ticketd_socketio_clients",
            "Socket.IO clients connected (default namespace).",
        );
        let socketio_received = counter_vec(
            r,
            "ticketd_socketio_messages_received_total",
            "Socket.IO events received, by client event (`invalid` for an unknown event) and outcome (`ok` or the error code).",
            &["event", "outcome"],
        );
        for event in ClientEvent::NAMES {
            socketio_received.with_label_values(&[event, "ok"]);
        }
        let socketio_sent = counter_vec(
            r,
            "ticketd_socketio_events_sent_total",
            "Events sent to Socket.IO clients, by event (a broadcast counts once per client).",
            &["event"],
        );
        let socketio_sent_by_event = Event::NAMES
            .iter()
            .map(|name| (*name, socketio_sent.with_label_values(&[name])))
            .collect();
        let socketio_slow = counter_vec(
            r,
            "ticketd_socketio_slow_client_disconnects_total",
            "Socket.IO clients disconnected for being too slow: `lagged` (fell behind the broadcast) or `buffer_full` (its send buffer filled up).",
            &["reason"],
        );
        for reason in ["lagged", "buffer_full"] {
            socketio_slow.with_label_values(&[reason]);
        }

        let http_requests = counter_vec(
            r,
            "ticketd_http_requests_total",
            "HTTP requests on the public port, by matched route template, method and status.",
            &["route", "method", "status"],
        );
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "ticketd_http_request_duration_seconds",
                "Time to answer an HTTP request (to the response head), by route and method.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        r.register(Box::new(http_duration.clone()))
            .expect("unique metric");

        let commit_duration = histogram(
            r,
            "ticketd_store_commit_duration_seconds",
            "Time to append one group commit to the journal and fdatasync it.",
            vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0,
            ],
        );
        let commit_batch = histogram(
            r,
            "ticketd_store_commit_batch_size",
            "Changes made durable by one group commit.",
            vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ],
        );
        let commit_failures = IntCounter::new(
            "ticketd_store_commit_failures_total",
            "Journal writes or fsyncs that failed (the store turns read-only at the first).",
        )
        .expect("valid metric");
        r.register(Box::new(commit_failures.clone()))
            .expect("unique metric");
        let store_bytes = gauge(
            r,
            "ticketd_store_size_bytes",
            "Bytes on disk in the store's snapshot and journals.",
        );
        let store_writable = gauge(
            r,
            "ticketd_store_writable",
            "1 while the store accepts changes, 0 once a write failed and it turned read-only.",
        );
        store_writable.set(1);
        let database_connections = gauge_vec(
            r,
            "ticketd_database_connections",
            "The shared PostgreSQL store's pooled connections: in_use, open, max (absent with the journal store).",
            &["state"],
        );
        let database_lag = gauge(
            r,
            "ticketd_database_tailer_lag",
            "Changes committed in the shared database that this instance has not announced yet.",
        );
        let database_queue = prometheus::Gauge::new(
            "ticketd_database_notification_queue_usage",
            "pg_notification_queue_usage() as last read: at 1, NOTIFY fails.",
        )
        .expect("valid metric");
        r.register(Box::new(database_queue.clone()))
            .expect("unique metric");
        let database_conflicts = IntCounter::new(
            "ticketd_database_commit_conflicts_total",
            "Group commits planned again because another instance sharing the database committed first.",
        )
        .expect("valid metric");
        r.register(Box::new(database_conflicts.clone()))
            .expect("unique metric");
        let tickets = gauge_vec(r, "ticketd_tickets", "Tickets, by status.", &["status"]);
        let tickets_by_priority = gauge_vec(
            r,
            "ticketd_tickets_by_priority",
            "Tickets, by priority.",
            &["priority"],
        );

        let rate_limited = counter_vec(
            r,
            "ticketd_rate_limited_total",
            "Requests refused by a rate limit, by scope.",
            &["scope"],
        );
        let rate_limiter_keys = gauge_vec(
            r,
            "ticketd_rate_limiter_keys",
            "Keys (client addresses or users) a keyed rate limiter currently holds, by scope.",
            &["scope"],
        );
        let logins = counter_vec(
            r,
            "ticketd_logins_total",
            "Admin login attempts, by outcome.",
            &["outcome"],
        );
        let admin_actions = counter_vec(
            r,
            "ticketd_admin_actions_total",
            "Admin commands carried out, by command.",
            &["command"],
        );

        let sla_breaches = counter_vec(
            r,
            "ticketd_sla_breaches_total",
            "SLA clocks announced breached, by clock (first_response, resolution) and priority.",
            &["clock", "priority"],
        );
        let sla_warnings = counter_vec(
            r,
            "ticketd_sla_warnings_total",
            "SLA clocks announced at risk, by clock and priority.",
            &["clock", "priority"],
        );
        for clock in ["first_response", "resolution"] {
            for priority in Priority::ALL {
                sla_breaches.with_label_values(&[clock, priority.as_str()]);
                sla_warnings.with_label_values(&[clock, priority.as_str()]);
            }
        }

        let tls_expiry = gauge(
            r,
            "ticketd_tls_certificate_expiry_timestamp_seconds",
            "When the serving TLS certificate expires (notAfter), in Unix seconds.",
        );
        let tls_reloads = counter_vec(
            r,
            "ticketd_tls_reloads_total",
            "Certificate reloads on SIGHUP, by outcome (`error` keeps the old certificate).",
            &["outcome"],
        );
        for outcome in ["ok", "error"] {
            tls_reloads.with_label_values(&[outcome]);
        }

        let notify_deliveries = counter_vec(
            r,
            "ticketd_notify_deliveries_total",
            "Outbound delivery attempts (webhooks, Slack, Teams, email) by endpoint and outcome (delivered, retry, failed).",
            &["endpoint", "outcome"],
        );
        let notify_queue = gauge_vec(
            r,
            "ticketd_notify_queue_depth",
            "Outbound deliveries queued in the durable outbox and not yet delivered or failed, by endpoint.",
            &["endpoint"],
        );
        let notify_oldest = gauge_vec(
            r,
            "ticketd_notify_oldest_pending_seconds",
            "Age of the oldest delivery still pending, by endpoint (0 when none).",
            &["endpoint"],
        );
        let notify_disabled = gauge_vec(
            r,
            "ticketd_notify_endpoint_disabled",
            "1 when an endpoint was disabled after failing for too long.",
            &["endpoint"],
        );

        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("unique metric");

        Metrics {
            registry,
            ws_clients,
            ws_received,
            ws_sent,
            ws_sent_by_event,
            ws_slow,
            socketio_clients,
            socketio_received,
            socketio_sent,
            socketio_sent_by_event,
            socketio_slow,
            http_requests,
            http_duration,
            commit_duration,
            commit_batch,
            commit_failures,
            store_bytes,
            store_writable,
            database_connections,
            database_lag,
            database_queue,
            database_conflicts,
            tickets,
            tickets_by_priority,
            rate_limited,
            rate_limiter_keys,
            logins,
            admin_actions,
            sla_breaches,
            sla_warnings,
            notify_deliveries,
            notify_queue,
            notify_oldest,
            notify_disabled,
            tls_expiry,
            tls_reloads,
            store_sync: Mutex::new(()),
        }
    }

    /// Makes an endpoint's series exist from the first scrape.
    pub fn notify_endpoint(&self, endpoint: &str) {
        for outcome in ["delivered", "retry", "failed"] {
            self.notify_deliveries
                .with_label_values(&[endpoint, outcome]);
        }
        self.notify_queue.with_label_values(&[endpoint]);
        self.notify_oldest.with_label_values(&[endpoint]);
        self.notify_disabled.with_label_values(&[endpoint]);
    }

    /// One delivery attempt's result.
    pub fn notify_attempt(&self, endpoint: &str, outcome: &'static str) {
        self.notify_deliveries
            .with_label_values(&[endpoint, outcome])
            .inc();
    }

    /// An endpoint's queue: how many are pending, and the oldest's age.
    pub fn notify_queue(&self, endpoint: &str, depth: usize, oldest: Duration, disabled: bool) {
        self.notify_queue
            .with_label_values(&[endpoint])
            .set(depth as i64);
        self.notify_oldest
            .with_label_values(&[endpoint])
            .set(oldest.as_secs() as i64);
        self.notify_disabled
            .with_label_values(&[endpoint])
            .set(i64::from(disabled));
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// A WebSocket session opened; the guard counts it closed when dropped.
    pub fn ws_client_connected(&self) -> ClientGuard {
        self.ws_clients.inc();
        ClientGuard(self.ws_clients.clone())
    }

    /// One message received: its event (`invalid` if it did not parse) and
    /// outcome (`ok` or the error code).
    pub fn ws_received(&self, event: &'static str, outcome: Result<(), ErrorCode>) {
        let outcome = match outcome {
            Ok(()) => "ok",
            Err(code) => code.as_str(),
        };
        self.ws_received.with_label_values(&[event, outcome]).inc();
    }

    /// One event sent to one client.
    pub fn ws_sent(&self, event: &'static str) {
        match self.ws_sent_by_event.get(event) {
            Some(counter) => counter.inc(),
            None => self.ws_sent.with_label_values(&[event]).inc(),
        }
    }

    /// A client disconnected for being too slow: `lagged` or `send_timeout`.
    pub fn ws_slow_disconnect(&self, reason: &'static str) {
        self.ws_slow.with_label_values(&[reason]).inc();
    }

    /// A Socket.IO client connected; the guard counts it gone when dropped.
    pub fn socketio_client_connected(&self) -> ClientGuard {
        self.socketio_clients.inc();
        ClientGuard(self.socketio_clients.clone())
    }

    /// One Socket.IO event received: its event (`invalid` if unknown) and
    /// outcome (`ok` or the error code).
    pub fn socketio_received(&self, event: &'static str, outcome: Result<(), ErrorCode>) {
        let outcome = match outcome {
            Ok(()) => "ok",
            Err(code) => code.as_str(),
        };
        self.socketio_received
            .with_label_values(&[event, outcome])
            .inc();
    }

    /// One event sent to one Socket.IO client.
    pub fn socketio_sent(&self, event: &'static str) {
        match self.socketio_sent_by_event.get(event) {
            Some(counter) => counter.inc(),
            None => self.socketio_sent.with_label_values(&[event]).inc(),
        }
    }

    /// A Socket.IO client disconnected for being too slow: `lagged` or
    /// `buffer_full`.
    pub fn socketio_slow_disconnect(&self, reason: &'static str) {
        self.socketio_slow.with_label_values(&[reason]).inc();
    }

    /// One HTTP request answered. `route` is the matched template or
    /// [`UNMATCHED_ROUTE`]; `method` one of a fixed set; `status` the three
    /// digits.
    pub fn http_request(
        &self,
        route: &str,
        method: &'static str,
        status: &str,
        duration: Duration,
    ) {
        self.http_requests
            .with_label_values(&[route, method, status])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(duration.as_secs_f64());
    }

    /// One durable group commit.
    pub fn commit(&self, batch_size: usize, duration: Duration) {
        self.commit_batch.observe(batch_size as f64);
        self.commit_duration.observe(duration.as_secs_f64());
    }

    /// Brings the store's gauges (and its failure counter) up to date; called
    /// before each scrape.
    pub fn observe_store(&self, stats: &Stats, disk_bytes: u64, writable: bool, failures: u64) {
        let _serial = self.store_sync.lock().unwrap_or_else(|p| p.into_inner());
        self.store_bytes
            .set(i64::try_from(disk_bytes).unwrap_or(i64::MAX));
        self.store_writable.set(i64::from(writable));
        let seen = self.commit_failures.get();
        if failures > seen {
            self.commit_failures.inc_by(failures - seen);
        }
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.tickets
            .with_label_values(&["open"])
            .set(count(stats.open));
        self.tickets
            .with_label_values(&["resolved"])
            .set(count(stats.resolved));
        for priority in Priority::ALL {
            let n = stats.by_priority.get(&priority).copied().unwrap_or(0);
            self.tickets_by_priority
                .with_label_values(&[priority.as_str()])
                .set(count(n));
        }
    }

    /// The shared database's figures, read at scrape time.
    pub fn observe_database(&self, figures: &crate::store::postgres::DatabaseFigures) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        for (state, n) in [
            ("in_use", figures.pool_in_use),
            ("open", figures.pool_open),
            ("max", figures.pool_max),
        ] {
            self.database_connections
                .with_label_values(&[state])
                .set(count(n));
        }
        self.database_lag
            .set(i64::try_from(figures.lag).unwrap_or(i64::MAX));
        self.database_queue.set(figures.notify_queue_usage);
        let seen = self.database_conflicts.get();
        if figures.conflicts > seen {
            self.database_conflicts.inc_by(figures.conflicts - seen);
        }
    }

    /// Reads the rate limiters at scrape time: refusals so far (a counter
    /// brought up to the limiter's own count) and keys held, by scope.
    pub fn observe_limits(&self, limits: &crate::limits::Limits) {
        for scope in crate::limits::Scope::ALL {
            let counter = self.rate_limited.with_label_values(&[scope.as_str()]);
            let total = limits.rejections(scope);
            if total > counter.get() {
                counter.inc_by(total - counter.get());
            }
            self.rate_limiter_keys
                .with_label_values(&[scope.as_str()])
                .set(i64::try_from(limits.keys_held_in(scope)).unwrap_or(i64::MAX));
        }
    }

    /// A login attempt: `success`, `failure` or `rate_limited`.
    pub fn login(&self, outcome: &'static str) {
        self.logins.with_label_values(&[outcome]).inc();
    }

    /// An admin command carried out, e.g. `resolve`, `delete`.
    pub fn admin_action(&self, command: &'static str) {
        self.admin_actions.with_label_values(&[command]).inc();
    }

    /// The certificate now serving expires at `not_after` (Unix seconds).
    pub fn tls_certificate(&self, not_after: Option<i64>) {
        if let Some(t) = not_after {
            self.tls_expiry.set(t);
        }
    }

    /// A SIGHUP reload: `ok` or `error`.
    pub fn tls_reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.tls_reloads.with_label_values(&[outcome]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Counts one open WebSocket session (or Socket.IO client); dropping it
/// counts it closed.
pub struct ClientGuard(IntGauge);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl crate::service::CommitObserver for Metrics {
    fn committed(&self, batch_size: usize, duration: Duration) {
        self.commit(batch_size, duration);
    }

    fn sla_announced(&self, clock: &'static str, state: &'static str, priority: &'static str) {
        let counter = if state == "breached" {
            &self.sla_breaches
        } else {
            &self.sla_warnings
        };
        counter.with_label_values(&[clock, priority]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prefixed_names_and_build_info() {
        let m = Metrics::new();
        m.ws_sent("new_ticket");
        m.http_request(UNMATCHED_ROUTE, "GET", "404", Duration::from_millis(1));
        let text = m.render();
        assert!(text.contains("ticketd_build_info{version=\""));
        assert!(text.contains("ticketd_ws_events_sent_total{event=\"new_ticket\"} 1"));
        assert!(text.contains(
            "ticketd_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
        ));
    }

    #[test]
    fn failure_counter_follows_the_store_total() {
        let m = Metrics::new();
        let stats = Stats::default();
        m.observe_store(&stats, 10, false, 1);
        m.observe_store(&stats, 10, false, 1);
        assert_eq!(m.commit_failures.get(), 1);
        assert_eq!(m.store_writable.get(), 0);
    }
}
