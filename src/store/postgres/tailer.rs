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

/// Changes read from the database, each at its version.
pub(super) type Changes = Vec<(u64, Record<Ticket>)>;

/// Changes read per query.
pub(super) const PAGE: i64 = 1000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Reads new changes on every notification, every poll interval, and after
/// every reconnect, until the store closes.
pub(super) async fn run(ctx: Arc<Context>) {
    let mut backoff = FIRST_BACKOFF;
    let mut pruned: Option<tokio::time::Instant> = None;
    loop {
        match listen(&ctx).await {
            Ok((client, mut wakeups)) => {
                backoff = FIRST_BACKOFF;
                loop {
                    match catch_up(&ctx).await {
                        Ok(()) => ctx.healthy(),
                        Err(e) if ctx.behind.load(Ordering::Acquire) => {
                            // Nothing more to read that could help: refuse
                            // changes and fail the health check for good.
                            ctx.unhealthy("fell behind", &e);
                            tracing::error!(error = %e, "this instance missed changes the database no longer keeps; restart it to load the store afresh (systemd's watchdog does)");
                            return;
                        }
                        Err(e) => {
                            ctx.unhealthy("reading changes", &e);
                            break;
                        }
                    }
                    if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                        pruned = Some(tokio::time::Instant::now());
                        match prune(&ctx).await {
                            Ok(0) => {}
                            Ok(n) => tracing::debug!(deleted = n, "old changes pruned"),
                            Err(e) => tracing::warn!(error = %e, "cannot prune old changes"),
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

/// How often each instance deletes changes older than it keeps.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Changes looked at, and at most deleted, per statement (short
/// transactions).
const PRUNE_BATCH: i64 = 1_000;

/// Deletes the oldest changes, as long as they are older than both
/// `keep_changes` versions and `keep_for`; the number deleted. Only a
/// prefix of the log goes (it stops at the first change it keeps, even if
/// a later one is older: commit times are not strictly in version order),
/// so the changes kept are always contiguous. A ticket whose current state
/// is in a change that goes gets a body of its own in `ticketd_tickets`, in
/// the same statement. Each statement looks at no more than a batch from
/// the oldest, so a log with nothing to prune costs one short index scan,
/// however long it is. Every instance does this now and then; deleting
/// twice is harmless.
async fn prune(ctx: &Context) -> Result<u64, String> {
    let keep = ctx.db.keep_changes.min(i64::MAX as u64) as i64;
    let seconds = ctx.db.keep_for.as_secs_f64();
    let mut deleted = 0;
    loop {
        let run = async {
            let client = ctx.pool.get().await.map_err(super::why)?;
            let statement = client
                .prepare_cached(
                    "WITH head AS ( \
                       SELECT version, committed_at FROM ticketd_changes \
                       WHERE version <= (SELECT version FROM ticketd_stream WHERE id = 1) - $1 \
                       ORDER BY version LIMIT $3 \
                     ), kept AS ( \
                       SELECT min(version) AS version FROM head \
                       WHERE committed_at >= now() - make_interval(secs => $2) \
                     ), doomed AS ( \
                       SELECT version FROM head \
                       WHERE version < coalesce((SELECT version FROM kept), $4) \
                     ), moved AS ( \
                       UPDATE ticketd_tickets AS t SET body = c.body -> 'ticket', version = NULL \
                       FROM ticketd_changes AS c JOIN doomed USING (version) \
                       WHERE t.id = c.ticket_id AND t.version = c.version \
                     ) \
                     DELETE FROM ticketd_changes AS c USING doomed \
                     WHERE c.version = doomed.version",
                )
                .await
                .map_err(super::why)?;
            client
                .execute(&statement, &[&keep, &seconds, &PRUNE_BATCH, &i64::MAX])
                .await
                .map_err(super::why)
        };
        let n = tokio::time::timeout(ctx.db.timeout * 5, run)
            .await
            .map_err(|_| "no answer in time".to_string())??;
        deleted += n;
        if (n as i64) < PRUNE_BATCH {
            return Ok(deleted);
        }
    }
}

/// A connection of its own, listening: each notification is a wake-up
/// (coalesced), and the receiver closes when the connection ends.
async fn listen(
    ctx: &Arc<Context>,
) -> Result<(tokio_postgres::Client, mpsc::Receiver<()>), String> {
    let connect = ctx.connector.config.connect(ctx.connector.tls.clone());
    let (client, mut connection) = tokio::time::timeout(ctx.db.timeout, connect)
        .await
        .map_err(|_| format!("no connection within {} ms", ctx.db.timeout.as_millis()))?
        .map_err(super::why)?;
    let (tx, rx) = mpsc::channel(1);
    let woken = ctx.clone();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    // The payload is the newest version: nothing to read
                    // when this instance has it already (its own commits).
                    let Ok(newest) = n.payload().parse::<u64>() else {
                        let _ = tx.try_send(());
                        continue;
                    };
                    // The writer learns it is behind before it tries.
                    woken.seen.fetch_max(newest, Ordering::Relaxed);
                    if newest > woken.shared.version.load(Ordering::Acquire) {
                        let _ = tx.try_send(());
                    }
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
        .map_err(super::why)?;
    Ok((client, rx))
}

/// Reads and announces every change after this instance's version, page by
/// page, until there is none.
pub(super) async fn catch_up(ctx: &Context) -> Result<(), String> {
    loop {
        let from = ctx.shared.version.load(Ordering::Acquire);
        let read = async {
            let client = ctx.pool.get().await.map_err(super::why)?;
            let after = from as i64;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&after, &PAGE];
            let (newest, changes) = tokio::try_join!(
                client.prepare_cached(
                    "SELECT version, pg_notification_queue_usage() FROM ticketd_stream WHERE id = 1"
                ),
                client.prepare_cached(
                    "SELECT version, body::text FROM ticketd_changes WHERE version > $1 ORDER BY version LIMIT $2"
                ),
            )
            .map_err(super::why)?;
            let newest = client.query_one(&newest, &[]);
            let changes = client.query(&changes, &params);
            let (newest, changes) = tokio::try_join!(newest, changes).map_err(super::why)?;
            ctx.queue_usage
                .store(newest.get::<_, f64>(1).to_bits(), Ordering::Relaxed);
            Ok::<_, String>((newest.get::<_, i64>(0) as u64, changes))
        };
        let (newest, rows) = tokio::time::timeout(ctx.db.timeout, read)
            .await
            .map_err(|_| format!("no answer within {} ms", ctx.db.timeout.as_millis()))??;
        ctx.seen.fetch_max(newest, Ordering::Relaxed);
        let full = rows.len() as i64 == PAGE;
        let changes = parse(rows)?;
        if !apply(ctx, changes)? || !full {
            return Ok(());
        }
    }
}

/// Change rows (`version`, `body`) as records.
pub(super) fn parse(rows: Vec<tokio_postgres::Row>) -> Result<Changes, String> {
    rows.into_iter()
        .map(|row| {
            let version = row.get::<_, i64>(0) as u64;
            let body: &str = row.get(1);
            Record::parse(body.as_bytes())
                .map(|record| (version, record))
                .map_err(|e| format!("change {version} does not parse: {e}"))
        })
        .collect()
}

/// Reads the changes after `from` inside a transaction that holds the
/// counter row (nobody else can commit meanwhile) and applies them.
pub(super) async fn catch_up_locked(
    ctx: &Context,
    tx: &tokio_postgres::Client,
    newest: u64,
) -> Result<(), String> {
    while ctx.shared.version.load(Ordering::Acquire) < newest {
        let from = ctx.shared.version.load(Ordering::Acquire) as i64;
        let rows = tx
            .query(
                "SELECT version, body::text FROM ticketd_changes WHERE version > $1 ORDER BY version LIMIT $2",
                &[&from, &PAGE],
            )
            .await
            .map_err(super::why)?;
        if rows.is_empty() {
            return Err(format!(
                "the stream has a hole: nothing after version {from} but the counter says {newest}"
            ));
        }
        if !apply(ctx, parse(rows)?)? {
            return Err("a batch of this instance's own is in flight while catching up".into());
        }
    }
    Ok(())
}

/// Applies changes read from the database in version order and announces
/// them; skips what this instance already has, and stops short of the
/// writer's batch in flight. False: stopped there.
pub(super) fn apply(ctx: &Context, rows: Changes) -> Result<bool, String> {
    let pending = *ctx.pending.lock().unwrap_or_else(|p| p.into_inner());
    let mut changes = Vec::with_capacity(rows.len());
    let mut befores = Vec::with_capacity(rows.len());
    let mut result = Ok(true);
    let now = chrono::Utc::now();
    {
        let mut state = ctx.shared.state.write().unwrap_or_else(|p| p.into_inner());
        let mut version = ctx.shared.version.load(Ordering::Acquire);
        let mut moved = false;
        for (v, record) in rows {
            if v <= version {
                continue;
            }
            if pending.is_some_and(|(first, last)| (first..=last).contains(&v)) {
                result = Ok(false);
                break;
            }
            if v != version + 1 {
                // Versions are committed without holes: a gap before the
                // first change read means the ones between were pruned.
                if !moved {
                    ctx.behind.store(true, Ordering::Release);
                    result = Err(format!(
                        "this instance is at version {version} but the database keeps changes only from {v} on"
                    ));
                } else {
                    result = Err(format!(
                        "the stream has a hole: version {v} follows {version}"
                    ));
                }
                break;
            }
            // The SLA view is computed, not stored: as a replay does.
            let record = match record {
                Record::Put { mut ticket, v } => {
                    // As the committing instance saw it (a view computed
                    // now could differ: the frames must be identical).
                    let at = ticket.private.sla_at.unwrap_or(now);
                    ticket.settle_sla(&ctx.sla, at);
                    Record::Put { ticket, v }
                }
                other => other,
            };
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
            moved = true;
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
