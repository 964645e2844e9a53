//! The delivery workers: one per endpoint, each sending what the outbox
//! says is due, a few at a time, and recording every attempt.
//!
//! An attempt is one POST with the endpoint's body, a fresh
//! `webhook-timestamp` and signature (receivers reject old timestamps, so a
//! retry is signed anew; `webhook-id` stays the same), limited to the
//! configured timeout from connect to the last byte. Only a 2xx answer is
//! success: a redirect is not followed and counts as a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::outbox::{Delivery, Tried};
use super::smtp::Mailer;
use super::{EMAIL, Endpoint, Kind, Notifier, sign};
use crate::metrics::Metrics;

/// How often queue gauges are refreshed while nothing happens.
const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

/// Where one worker sends.
enum Channel {
    Http {
        client: reqwest::Client,
        endpoint: Box<Endpoint>,
    },
    Email(Arc<Mailer>),
}

impl Channel {
    fn name(&self) -> &str {
        match self {
            Channel::Http { endpoint, .. } => &endpoint.name,
            Channel::Email(_) => EMAIL,
        }
    }

    async fn send(&self, d: &Delivery, attempt: u32) -> Tried {
        match self {
            Channel::Http { client, endpoint } => send(client, endpoint, d, attempt).await,
            Channel::Email(mailer) => mailer.send(&d.body).await,
        }
    }
}

/// Starts one worker per endpoint (and one for email), and the gauges'
/// refresher. They stop with `stop` (an attempt in flight is abandoned and
/// retried after the restart: the outbox still has it pending).
pub fn spawn(
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Result<(), String> {
    let mut channels = Vec::new();
    for endpoint in &notifier.config.endpoints {
        channels.push(Channel::Http {
            client: client(endpoint, notifier.config.delivery.timeout)?,
            endpoint: Box::new(endpoint.clone()),
        });
    }
    if let Some(email) = &notifier.email {
        channels.push(Channel::Email(email.mailer.clone()));
    }
    for channel in channels {
        metrics.notify_endpoint(channel.name());
        tokio::spawn(worker(
            notifier.clone(),
            Arc::new(channel),
            metrics.clone(),
            stop.clone(),
        ));
    }
    tokio::spawn(gauges(notifier, metrics, stop));
    Ok(())
}

/// The HTTP client of one endpoint: no redirects, its timeout, the extra
/// roots it trusts.
fn client(endpoint: &Endpoint, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!(
            "ticketd/",
            env!("CARGO_PKG_VERSION"),
            " (webhooks)"
        ))
        .pool_max_idle_per_host(4);
    if let Some(ca) = &endpoint.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not PEM certificates: {e}", ca.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("endpoint `{}`: {e}", endpoint.name))
}

async fn worker(
    notifier: Arc<Notifier>,
    channel: Arc<Channel>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let name = channel.name().to_string();
    let Some(bell) = notifier.bell(&name) else {
        return;
    };
    let delivery = notifier.config.delivery.clone();
    let mut in_flight: JoinSet<(String, Tried)> = JoinSet::new();
    // While the endpoint fails, one probe at a time, one per
    // `probe_interval`: a dead endpoint costs an attempt a second, not a
    // connection per queued event.
    let mut probe_at: Option<tokio::time::Instant> = None;
    loop {
        let failing = notifier.outbox.is_failing(&name);
        let limit = if failing { 1 } else { delivery.concurrency };
        let probing = probe_at.filter(|at| failing && *at > tokio::time::Instant::now());
        let free = match probing {
            Some(_) => 0,
            None => limit.saturating_sub(in_flight.len()),
        };
        let (due, next) = notifier.outbox.take_due(&name, Utc::now(), free);
        for (d, attempt) in due {
            let channel = channel.clone();
            in_flight.spawn(async move {
                let tried = channel.send(&d, attempt).await;
                (d.id, tried)
            });
        }
        let full = in_flight.len() >= limit;
        let wait = match probing {
            Some(at) => Some(at - tokio::time::Instant::now()),
            None if full => None,
            None => next.map(|at| {
                (at - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(Duration::from_secs(3600))
            }),
        };
        tokio::select! {
            _ = stop.cancelled() => {
                in_flight.abort_all();
                return;
            }
            _ = bell.notified(), if !full && probing.is_none() => {}
            _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {}
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let Ok((id, tried)) = joined else { continue };
                probe_at = (tried.error.is_some() && !tried.permanent)
                    .then(|| tokio::time::Instant::now() + delivery.probe_interval);
                let outbox = notifier.outbox.clone();
                let schedule = delivery.retry_schedule.clone();
                let disable_after = delivery.disable_after;
                let finished = tokio::task::spawn_blocking(move || {
                    outbox.finish(&id, tried, Utc::now(), &schedule, disable_after)
                })
                .await
                .ok()
                .flatten();
                let Some(finished) = finished else { continue };
                let a = &finished.attempt;
                let outcome = match a.state {
                    super::outbox::State::Delivered => "delivered",
                    super::outbox::State::Pending => "retry",
                    super::outbox::State::Failed => "failed",
                };
                metrics.notify_attempt(&name, outcome);
                if a.error.is_some() {
                    tracing::warn!(
                        endpoint = %name,
                        delivery = %a.delivery,
                        event = %a.event,
                        attempt = a.attempt,
                        status = a.status,
                        error = a.error.as_deref().unwrap_or(""),
                        next_at = ?a.next_at,
                        "outbound delivery failed{}",
                        if outcome == "failed" { "; no more retries" } else { "; will retry" }
                    );
                } else {
                    tracing::debug!(endpoint = %name, delivery = %a.delivery, latency_ms = a.latency_ms, "delivered");
                }
                if let Some(disabled) = &finished.disabled {
                    notifier.raise(disabled);
                }
                refresh(&notifier, &metrics);
            }
        }
    }
}

/// One attempt.
async fn send(client: &reqwest::Client, endpoint: &Endpoint, d: &Delivery, attempt: u32) -> Tried {
    let started = Instant::now();
    let timestamp = Utc::now().timestamp();
    let mut request = client
        .post(endpoint.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .body(d.body.as_bytes().to_vec());
    if !endpoint.secrets.is_empty() {
        request = request.header(
            "webhook-signature",
            sign::signature(&endpoint.secrets, &d.id, timestamp, d.body.as_bytes()),
        );
    }
    if endpoint.kind == Kind::Webhook {
        request = request.header("webhook-attempt", attempt.to_string());
    }
    let result = request.send().await;
    let latency = started.elapsed();
    match result {
        Ok(response) => {
            let status = response.status();
            // Read (and drop) the answer so the connection can be reused;
            // within the same time limit.
            let _ = response.bytes().await;
            Tried {
                status: Some(status.as_u16()),
                latency,
                error: (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("HTTP {} (redirects are not followed)", status.as_u16())
                    } else {
                        format!("HTTP {}", status.as_u16())
                    }
                }),
                permanent: false,
            }
        }
        Err(e) => Tried {
            status: None,
            latency,
            error: Some(describe(&e)),
            permanent: false,
        },
    }
}

/// A transport error in words, without the URL (a Slack or Teams URL is a
/// credential; reqwest's own message names it, its sources do not).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let inner = std::error::Error::source(e)
        .map(source_chain)
        .unwrap_or_else(|| "request failed".into());
    if e.is_connect() {
        format!("cannot connect: {inner}")
    } else {
        inner
    }
}

fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn refresh(notifier: &Notifier, metrics: &Metrics) {
    let now = Utc::now();
    for (endpoint, depth, oldest, disabled) in notifier.outbox.queue_stats() {
        let age = oldest
            .and_then(|t| (now - t).to_std().ok())
            .unwrap_or_default();
        metrics.notify_queue(&endpoint, depth, age, disabled);
    }
}

async fn gauges(notifier: Arc<Notifier>, metrics: Arc<Metrics>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(GAUGE_INTERVAL);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => refresh(&notifier, &metrics),
        }
    }
}
