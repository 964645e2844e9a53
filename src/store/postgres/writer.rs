//! The database store's writer: group commit through `ticketd_commit`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Context;
use crate::store::writer::{Planned, encode_change, plan, publish};
use crate::store::{Applied, Request, StoreError};
use crate::tickets::{Change, Command, Ticket, TicketId};

type Reply = tokio::sync::oneshot::Sender<Result<Applied, StoreError>>;

/// How many times a batch is planned again after other instances committed
/// first, before its callers are told the store is unavailable.
const MAX_ATTEMPTS: usize = 64;

/// Takes whatever is queued as one batch and commits it, until shutdown.
pub(super) async fn run(ctx: &Arc<Context>, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<(Command, Reply)> = Vec::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Apply { command, reply } => batch.push((command, reply)),
                Request::Shutdown => {
                    stopping = true;
                    break;
                }
                Request::Ping(pong) => {
                    let _ = pong.send(());
                }
            }
            if batch.len() >= ctx.max_batch {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            commit(ctx, std::mem::take(&mut batch)).await;
        }
    }
    rx.close();
    while let Ok(request) = rx.try_recv() {
        if let Request::Apply { reply, .. } = request {
            let _ = reply.send(Err(StoreError::Unavailable));
        }
    }
}

/// The arrays `ticketd_commit` takes.
#[derive(Default)]
struct Encoded {
    kinds: Vec<&'static str>,
    ids: Vec<Option<String>>,
    bodies: Vec<String>,
    put_ids: Vec<String>,
    put_bodies: Vec<String>,
    delete_ids: Vec<String>,
}

fn encode(
    base: u64,
    planned: &[&Planned],
    overlay: &HashMap<TicketId, Option<Arc<Ticket>>>,
) -> Encoded {
    let mut e = Encoded::default();
    for (n, p) in planned.iter().enumerate() {
        let mut body = Vec::with_capacity(1200);
        encode_change(&p.change, base + n as u64 + 1, &mut body);
        let (kind, id) = match &p.change {
            Change::Put(t) => ("put", Some(t.request_id.to_string())),
            Change::Delete(id) => ("delete", Some(id.to_string())),
            Change::Clear => ("clear", None),
        };
        e.kinds.push(kind);
        e.ids.push(id);
        e.bodies
            .push(String::from_utf8(body).expect("JSON is UTF-8"));
    }
    for (id, ticket) in overlay {
        match ticket {
            Some(t) => {
                e.put_ids.push(id.to_string());
                e.put_bodies.push(
                    serde_json::to_string(&crate::store::files::Stored(t))
                        .expect("a ticket always serializes"),
                );
            }
            None => e.delete_ids.push(id.to_string()),
        }
    }
    e
}

/// Commits one batch: plan against the view, send, and on a conflict catch
/// up and plan again. Every caller hears exactly once.
async fn commit(ctx: &Arc<Context>, batch: Vec<(Command, Reply)>) {
    let (commands, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
    if !ctx.shared.writable.load(Ordering::Acquire) {
        // Known away: refuse at once rather than wait for a timeout per
        // batch; the tailer notices when it is back.
        for reply in replies {
            let _ = reply.send(Err(StoreError::Unavailable));
        }
        return;
    }
    for _ in 0..MAX_ATTEMPTS {
        let (base, planned) = {
            let state = ctx.shared.state.read().unwrap_or_else(|p| p.into_inner());
            (
                ctx.shared.version.load(Ordering::Acquire),
                plan(&state, commands.iter().cloned(), &ctx.sla),
            )
        };
        let ok: Vec<&Planned> = planned
            .results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .collect();
        if ok.is_empty() {
            for (result, reply) in planned.results.into_iter().zip(replies) {
                if let Err(e) = result {
                    let _ = reply.send(Err(e));
                }
            }
            return;
        }
        let n = ok.len() as u64;
        let encoded = encode(base, &ok, &planned.overlay);
        *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some((base + 1, base + n));
        let started = Instant::now();
        let sent = send(ctx, base, planned.cleared, &encoded).await;
        let duration = started.elapsed();
        match sent {
            Ok((true, reached)) => {
                debug_assert_eq!(reached, base + n);
                ctx.seen.fetch_max(reached, Ordering::Relaxed);
                let (oks, errs): (Vec<_>, Vec<_>) = planned
                    .results
                    .into_iter()
                    .zip(replies)
                    .partition(|(r, _)| r.is_ok());
                for (result, reply) in errs {
                    if let Err(e) = result {
                        let _ = reply.send(Err(e));
                    }
                }
                let (oks, replies): (Vec<Planned>, Vec<Reply>) = oks
                    .into_iter()
                    .filter_map(|(r, reply)| r.ok().map(|p| (p, reply)))
                    .unzip();
                let applied = {
                    let hook = ctx.hook.lock().unwrap_or_else(|p| p.into_inner());
                    publish(&ctx.shared, &hook, base, oks, duration)
                };
                *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
                for (applied, reply) in applied.into_iter().zip(replies) {
                    let _ = reply.send(Ok(applied));
                }
                wake_others(ctx, reached);
                return;
            }
            Ok((false, current)) => {
                // Another instance committed first: nothing of ours was
                // written. Catch up to it and plan again.
                *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
                ctx.seen.fetch_max(current, Ordering::Relaxed);
                if let Err(e) = super::tailer::catch_up(ctx).await {
                    ctx.unhealthy("catching up", &e);
                    break;
                }
            }
            Err(e) => {
                // Whether it committed is unknown: the tailer announces it
                // if it did. The callers are told it is not stored.
                *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
                ctx.unhealthy("commit", &e);
                break;
            }
        }
    }
    for reply in replies {
        let _ = reply.send(Err(StoreError::Unavailable));
    }
}

/// One round trip: `ticketd_commit` in its own transaction.
async fn send(ctx: &Context, base: u64, cleared: bool, e: &Encoded) -> Result<(bool, u64), String> {
    let attempt = async {
        let client = ctx.pool.get().await.map_err(|e| e.to_string())?;
        let row = client
            .query_one(
                "SELECT committed, version FROM ticketd_commit($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &(base as i64),
                    &e.kinds,
                    &e.ids,
                    &e.bodies,
                    &e.put_ids,
                    &e.put_bodies,
                    &e.delete_ids,
                    &cleared,
                ],
            )
            .await;
        match row {
            Ok(row) => Ok((row.get::<_, bool>(0), row.get::<_, i64>(1) as u64)),
            Err(error) => {
                // A connection that failed mid-statement is not reused.
                drop(deadpool_postgres::Object::take(client));
                Err(error.to_string())
            }
        }
    };
    match tokio::time::timeout(ctx.db.timeout + COMMIT_GRACE, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within {} ms",
            (ctx.db.timeout + COMMIT_GRACE).as_millis()
        )),
    }
}

/// A commit may take longer than a connection: allowed this much more.
const COMMIT_GRACE: Duration = Duration::from_secs(1);

/// Tells the other instances' tailers to read now. Outside the ticket
/// transaction (a full notification queue must not fail a commit), and not
/// waited for: a lost wake-up costs one poll interval.
fn wake_others(ctx: &Arc<Context>, version: u64) {
    let pool = ctx.pool.clone();
    tokio::spawn(async move {
        if let Ok(client) = pool.get().await {
            let _ = client
                .execute(
                    "SELECT pg_notify($1, $2)",
                    &[&super::CHANNEL, &version.to_string()],
                )
                .await;
        }
    });
}
