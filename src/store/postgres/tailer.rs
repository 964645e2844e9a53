//! The tailer: follows `ticketd_changes` in version order and announces
//! what other instances committed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::Context;
use crate::store::Committed;
use crate::store::files::Record;
use crate::store::writer::apply_record;
use crate::tickets::Ticket;

/// Changes read per query.
const PAGE: i64 = 1000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Reads new changes on every notification, every poll interval, and after
/// every reconnect, until the store closes.
pub(super) async fn run(ctx: Arc<Context>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match listen(&ctx).await {
            Ok((client, mut wakeups)) => {
                backoff = FIRST_BACKOFF;
                loop {
                    match catch_up(&ctx).await {
                        Ok(()) => ctx.healthy(),
                        Err(e) => {
                            ctx.unhealthy("reading changes", &e);
                            break;
                        }
                    }
                    tokio::select! {
                        woken = wakeups.recv() => if woken.is_none() {
                            // The listening connection ended: notifications
                            // may have been lost. Reconnect, then read.
                            break;
                        },
                        _ = tokio::time::sleep(ctx.db.poll_interval) => {}
                    }
                }
                drop(client);
            }
            Err(e) => ctx.unhealthy("listening", &e),
        }
        // Backoff with jitter, so instances do not reconnect in step.
        let jitter = rand::random_range(0..=backoff.as_millis() as u64 / 2);
        tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A connection of its own, listening: each notification is a wake-up
/// (coalesced), and the receiver closes when the connection ends.
async fn listen(ctx: &Context) -> Result<(tokio_postgres::Client, mpsc::Receiver<()>), String> {
    let connect = ctx.connector.config.connect(ctx.connector.tls.clone());
    let (client, mut connection) = tokio::time::timeout(ctx.db.timeout, connect)
        .await
        .map_err(|_| format!("no connection within {} ms", ctx.db.timeout.as_millis()))?
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                    let _ = tx.try_send(());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let statement = format!("LISTEN {}", super::CHANNEL);
    let listening = client.batch_execute(&statement);
    tokio::time::timeout(ctx.db.timeout, listening)
        .await
        .map_err(|_| "LISTEN took too long".to_string())?
        .map_err(|e| e.to_string())?;
    Ok((client, rx))
}

/// Reads and announces every change after this instance's version, page by
/// page, until there is none.
pub(super) async fn catch_up(ctx: &Context) -> Result<(), String> {
    loop {
        let from = ctx.shared.version.load(Ordering::Acquire);
        let read = async {
            let client = ctx.pool.get().await.map_err(|e| e.to_string())?;
            let after = from as i64;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&after, &PAGE];
            let newest = client.query_one(
                "SELECT version, pg_notification_queue_usage() FROM ticketd_stream WHERE id = 1",
                &[],
            );
            let changes = client.query(
                "SELECT version, body::text FROM ticketd_changes WHERE version > $1 ORDER BY version LIMIT $2",
                &params,
            );
            let (newest, changes) = tokio::try_join!(newest, changes).map_err(|e| e.to_string())?;
            ctx.queue_usage
                .store(newest.get::<_, f64>(1).to_bits(), Ordering::Relaxed);
            Ok::<_, String>((newest.get::<_, i64>(0) as u64, changes))
        };
        let (newest, rows) = tokio::time::timeout(ctx.db.timeout, read)
            .await
            .map_err(|_| format!("no answer within {} ms", ctx.db.timeout.as_millis()))??;
        ctx.seen.fetch_max(newest, Ordering::Relaxed);
        let full = rows.len() as i64 == PAGE;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let version = row.get::<_, i64>(0) as u64;
            let body: &str = row.get(1);
            let record = Record::parse(body.as_bytes())
                .map_err(|e| format!("change {version} does not parse: {e}"))?;
            changes.push((version, record));
        }
        if !apply(ctx, changes)? || !full {
            return Ok(());
        }
    }
}

/// Applies changes read from the database in version order and announces
/// them; skips what this instance already has, and stops short of the
/// writer's batch in flight. False: stopped there.
fn apply(ctx: &Context, rows: Vec<(u64, Record<Ticket>)>) -> Result<bool, String> {
    let pending = *ctx.pending.lock().unwrap_or_else(|p| p.into_inner());
    let mut changes = Vec::with_capacity(rows.len());
    let mut befores = Vec::with_capacity(rows.len());
    let mut result = Ok(true);
    {
        let mut state = ctx.shared.state.write().unwrap_or_else(|p| p.into_inner());
        let mut version = ctx.shared.version.load(Ordering::Acquire);
        for (v, record) in rows {
            if v <= version {
                continue;
            }
            if pending.is_some_and(|(first, last)| (first..=last).contains(&v)) {
                result = Ok(false);
                break;
            }
            if v != version + 1 {
                result = Err(format!(
                    "the stream has a hole: version {v} follows {version}"
                ));
                break;
            }
            match apply_record(&mut state, record) {
                Some((outcome, before)) => {
                    changes.push((v, outcome));
                    befores.push(before);
                }
                None => tracing::warn!(
                    version = v,
                    "a stored change deletes a ticket this instance does not hold"
                ),
            }
            version = v;
        }
        ctx.shared.version.store(version, Ordering::Release);
    }
    if !changes.is_empty() {
        let hook = ctx.hook.lock().unwrap_or_else(|p| p.into_inner());
        hook(&Committed {
            changes: &changes,
            befores: &befores,
            duration: Duration::ZERO,
            own: false,
        });
    }
    result
}
