//! The database store's writer: group commit through `ticketd_commit`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Context;
use crate::store::writer::{Planned, answer_refused, encode_change, plan, publish, split};
use crate::store::{Reply, Request, StoreError, gather, refuse_queued};
use crate::tickets::{Change, Command, TicketId};

/// Takes whatever is queued as one batch and commits it, until shutdown.
pub(super) async fn run(ctx: &Arc<Context>, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<(Command, Reply)> = Vec::new();
    let mut stopping = false;
    let mut contended = Contended::default();
    while !stopping {
        let Some(first) = rx.recv().await else {
            break;
        };
        stopping = gather(first, &mut rx, &mut batch, ctx.max_batch);
        if !batch.is_empty() {
            commit(ctx, std::mem::take(&mut batch), &mut contended).await;
        }
    }
    refuse_queued(&mut rx);
}

/// Whether another instance has been committing lately. While it has, an
/// optimistic attempt mostly conflicts (it costs a round trip and a plan
/// for nothing, then the lock path's two), so batches go straight to the
/// lock path; a quiet spell brings the one-round-trip attempt back.
#[derive(Default)]
struct Contended {
    until: Option<Instant>,
}

impl Contended {
    /// How long after a conflict batches take the lock first.
    const FOR: Duration = Duration::from_secs(1);

    fn now(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() < until)
    }

    fn seen(&mut self) {
        self.until = Some(Instant::now() + Self::FOR);
    }
}

/// The arrays `ticketd_commit` takes.
#[derive(Default)]
struct Encoded {
    kinds: Vec<&'static str>,
    ids: Vec<Option<String>>,
    bodies: Vec<String>,
    /// Each ticket the batch leaves in place, and the version of its last
    /// change in the batch (which holds it as it now is).
    put_ids: Vec<String>,
    put_versions: Vec<i64>,
    delete_ids: Vec<String>,
}

fn encode(base: u64, planned: &[&Planned]) -> Encoded {
    let mut e = Encoded::default();
    // Each ticket's last put (its version) or delete, after any clear: the
    // same as the plan's overlay, read off the changes themselves.
    let mut last: HashMap<TicketId, Option<u64>> = HashMap::new();
    for (n, p) in planned.iter().enumerate() {
        let version = base + n as u64 + 1;
        let mut body = Vec::with_capacity(2048);
        encode_change(&p.change, version, &mut body);
        let (kind, id) = match &p.change {
            Change::Put(t) => {
                last.insert(t.request_id, Some(version));
                ("put", Some(t.request_id.to_string()))
            }
            Change::Delete(id) => {
                last.insert(*id, None);
                ("delete", Some(id.to_string()))
            }
            Change::Clear => {
                last.clear();
                ("clear", None)
            }
        };
        e.kinds.push(kind);
        e.ids.push(id);
        e.bodies
            .push(String::from_utf8(body).expect("JSON is UTF-8"));
    }
    for (id, version) in last {
        match version {
            Some(version) => {
                e.put_ids.push(id.to_string());
                e.put_versions.push(version as i64);
            }
            None => e.delete_ids.push(id.to_string()),
        }
    }
    e
}

/// Commits one batch. First optimistically: plan against the view at
/// version V and send it in one round trip, which writes only if the
/// database is still at V. If another instance committed first, nothing was
/// written, and the batch goes again under the counter row's lock: take the
/// lock (instances waiting for it are served in turn, so none is starved),
/// read what was missed, plan, write, commit. Every caller hears exactly once.
async fn commit(ctx: &Arc<Context>, batch: Vec<(Command, Reply)>, contended: &mut Contended) {
    let (commands, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
    if !ctx.shared.writable.load(Ordering::Acquire) {
        // Known away: refuse at once rather than wait for a timeout per
        // batch; the tailer notices when it is back.
        refuse(replies);
        return;
    }
    let started = Instant::now();
    // Known to be behind (another instance's commit was announced), or
    // another instance is busy committing: the one-round-trip attempt would
    // only conflict, so take the lock, which reads what was missed in the
    // same round trip.
    let behind = ctx.seen.load(Ordering::Relaxed) > ctx.shared.version.load(Ordering::Acquire);
    let first = if behind || contended.now() {
        locked(ctx, &commands).await
    } else {
        optimistic(ctx, &commands).await
    };
    let outcome = match first {
        Ok(Attempt::Conflict(current)) => {
            // Nothing of the first plan was written: its versions are free.
            *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
            ctx.seen.fetch_max(current, Ordering::Relaxed);
            ctx.conflicts.fetch_add(1, Ordering::Relaxed);
            contended.seen();
            locked(ctx, &commands).await
        }
        other => other,
    };
    *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
    match outcome {
        Ok(Attempt::Committed { base, planned }) => {
            let duration = started.elapsed();
            let (applied, refused) = split(planned, replies);
            if applied.is_empty() {
                answer_refused(refused, true);
                return;
            }
            let (oks, ok_replies): (Vec<_>, Vec<_>) = applied.into_iter().unzip();
            let reached = base + oks.len() as u64;
            ctx.seen.fetch_max(reached, Ordering::Relaxed);
            let applied = {
                let hook = ctx.hook.lock().unwrap_or_else(|p| p.into_inner());
                publish(&ctx.shared, &hook, base, oks, duration)
            };
            for (applied, reply) in applied.into_iter().zip(ok_replies) {
                let _ = reply.send(Ok(applied));
            }
            answer_refused(refused, true);
            wake_others(ctx, reached);
        }
        Ok(Attempt::Conflict(_)) => {
            // Under the lock nobody else commits: this is a broken
            // invariant, not a race.
            tracing::error!("a commit under the counter row's lock conflicted; refused");
            refuse(replies);
        }
        Err(e) => {
            // Whether it committed is unknown: the tailer announces it if
            // it did. The callers are told it is not stored.
            ctx.unhealthy("commit", &e);
            refuse(replies);
        }
    }
}

fn refuse(replies: Vec<Reply>) {
    for reply in replies {
        let _ = reply.send(Err(StoreError::Unavailable));
    }
}

enum Attempt {
    /// Written (or nothing to write): one result per command, the changes
    /// at `base + 1`, `base + 2`, ...
    Committed {
        base: u64,
        planned: Vec<Result<Planned, StoreError>>,
    },
    /// Another instance committed first; the database is at this version.
    Conflict(u64),
}

/// Plans the batch against the view; registers the versions it will take.
fn plan_now(
    ctx: &Context,
    commands: &[Command],
) -> (u64, crate::store::writer::Plan, Option<Encoded>) {
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
        return (base, planned, None);
    }
    let encoded = encode(base, &ok);
    *ctx.pending.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((base + 1, base + ok.len() as u64));
    (base, planned, Some(encoded))
}

const COMMIT: &str =
    "SELECT committed, version FROM ticketd_commit($1, $2, $3, $4, $5, $6, $7, $8)";

async fn call_commit(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    base: u64,
    cleared: bool,
    e: &Encoded,
) -> Result<(bool, u64), tokio_postgres::Error> {
    let row = client
        .query_one(
            statement,
            &[
                &(base as i64),
                &e.kinds,
                &e.ids,
                &e.bodies,
                &e.put_ids,
                &e.put_versions,
                &e.delete_ids,
                &cleared,
            ],
        )
        .await?;
    Ok((row.get::<_, bool>(0), row.get::<_, i64>(1) as u64))
}

/// One round trip: `ticketd_commit` in a transaction of its own.
async fn optimistic(ctx: &Context, commands: &[Command]) -> Result<Attempt, String> {
    let (base, planned, encoded) = plan_now(ctx, commands);
    let Some(encoded) = encoded else {
        return Ok(Attempt::Committed {
            base,
            planned: planned.results,
        });
    };
    let attempt = async {
        let client = ctx.pool.get().await.map_err(super::why)?;
        let sent = async {
            let statement = client.prepare_cached(COMMIT).await?;
            call_commit(&client, &statement, base, planned.cleared, &encoded).await
        }
        .await;
        match sent {
            Ok(answer) => Ok(answer),
            Err(error) => {
                // A connection that failed mid-statement is not reused.
                drop(deadpool_postgres::Object::take(client));
                Err(super::why(error))
            }
        }
    };
    match within(ctx, attempt).await? {
        (true, _) => Ok(Attempt::Committed {
            base,
            planned: planned.results,
        }),
        (false, current) => Ok(Attempt::Conflict(current)),
    }
}

/// Under the counter row's lock: catch up, plan, write, commit, in two
/// round trips while the lock is held (so other instances wait as little
/// as possible): `BEGIN`, the lock and the changes missed in one simple
/// query; then `ticketd_commit` and `COMMIT` pipelined.
async fn locked(ctx: &Context, commands: &[Command]) -> Result<Attempt, String> {
    let attempt = async {
        let client = ctx.pool.get().await.map_err(super::why)?;
        // Prepared (or cached) before the lock is taken.
        let statement = client.prepare_cached(COMMIT).await.map_err(super::why)?;
        let mut held = Discard(Some(client));
        let raw: &tokio_postgres::Client = held.client();
        let from = ctx.shared.version.load(Ordering::Acquire);
        let messages = raw
            .simple_query(&format!(
                "BEGIN; SELECT version FROM ticketd_stream WHERE id = 1 FOR UPDATE; \
                 SELECT version, body::text FROM ticketd_changes WHERE version > {from} ORDER BY version LIMIT {}",
                super::tailer::PAGE
            ))
            .await
            .map_err(super::why)?;
        let (newest, missed) = locked_reads(messages)?;
        if !super::tailer::apply(ctx, missed)? {
            return Err("a batch of this instance's own is in flight while catching up".into());
        }
        super::tailer::catch_up_locked(ctx, raw, newest).await?;
        let (base, planned, encoded) = plan_now(ctx, commands);
        let Some(encoded) = encoded else {
            raw.batch_execute("COMMIT").await.map_err(super::why)?;
            held.keep();
            return Ok(Attempt::Committed {
                base,
                planned: planned.results,
            });
        };
        // Pipelined: if the call fails, the transaction is aborted and
        // COMMIT rolls it back.
        let (answer, committed) = tokio::join!(
            call_commit(raw, &statement, base, planned.cleared, &encoded),
            raw.batch_execute("COMMIT"),
        );
        let answer = answer.map_err(super::why)?;
        committed.map_err(super::why)?;
        held.keep();
        if !answer.0 {
            return Ok(Attempt::Conflict(answer.1));
        }
        Ok(Attempt::Committed {
            base,
            planned: planned.results,
        })
    };
    within(ctx, attempt).await
}

/// The counter's version and the changes after this instance's, from the
/// locking simple query (`BEGIN`, then two `SELECT`s).
fn locked_reads(
    messages: Vec<tokio_postgres::SimpleQueryMessage>,
) -> Result<(u64, super::tailer::Changes), String> {
    use tokio_postgres::SimpleQueryMessage as M;
    let mut statement = 0;
    let mut newest = None;
    let mut missed = Vec::new();
    for message in messages {
        match message {
            M::CommandComplete(_) => statement += 1,
            M::Row(row) if statement == 1 => {
                newest = row.get(0).and_then(|v| v.parse::<u64>().ok());
            }
            M::Row(row) if statement == 2 => {
                let (Some(version), Some(body)) =
                    (row.get(0).and_then(|v| v.parse::<u64>().ok()), row.get(1))
                else {
                    return Err("a change row without its version or body".into());
                };
                let record = crate::store::files::Record::parse(body.as_bytes())
                    .map_err(|e| format!("change {version} does not parse: {e}"))?;
                missed.push((version, record));
            }
            _ => {}
        }
    }
    let newest = newest.ok_or("the counter row is missing")?;
    Ok((newest, missed))
}

/// A pooled connection inside a transaction this code opened by hand: if
/// it is not [`kept`](Discard::keep) (an error, a timeout dropping the
/// future), it is closed rather than returned to the pool mid-transaction
/// (the server then rolls back and releases the lock).
struct Discard(Option<deadpool_postgres::Object>);

impl Discard {
    fn client(&self) -> &tokio_postgres::Client {
        self.0.as_ref().expect("held until dropped")
    }

    /// The transaction ended: the connection may go back to the pool.
    fn keep(&mut self) {
        self.0.take();
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// Gives a database call the timeout (plus the commit's grace).
async fn within<T>(
    ctx: &Context,
    call: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let limit = ctx.db.timeout + COMMIT_GRACE;
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", limit.as_millis())))
}

/// A commit may take longer than a connection: allowed this much more.
const COMMIT_GRACE: Duration = Duration::from_secs(1);

const NOTIFY: &str = "SELECT set_config('synchronous_commit', 'off', true), \
                      pg_notify($1::text, $2::text)";

/// Tells the other instances' tailers to read now. Outside the ticket
/// transaction (a full notification queue must not fail a commit), and not
/// waited for: a lost wake-up costs one poll interval. One NOTIFY is in
/// flight at a time, carrying the newest version when it is sent, so a burst
/// of commits costs a few notifications, not one each.
fn wake_others(ctx: &Arc<Context>, version: u64) {
    ctx.wake_at.fetch_max(version, Ordering::AcqRel);
    if ctx.waking.swap(true, Ordering::AcqRel) {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut sent = 0;
        loop {
            let newest = ctx.wake_at.load(Ordering::Acquire);
            if newest > sent {
                if let Ok(client) = ctx.pool.get().await {
                    // NOTIFY takes a transaction id, so its commit would wait
                    // for a WAL flush of its own: a second flush per batch,
                    // for a wake-up that need not be durable. The setting is
                    // local to this statement's own transaction.
                    if let Ok(statement) = client.prepare_cached(NOTIFY).await {
                        let _ = client
                            .execute(&statement, &[&super::CHANNEL, &newest.to_string()])
                            .await;
                    }
                }
                sent = newest;
                continue;
            }
            ctx.waking.store(false, Ordering::Release);
            // A commit that came between the load and the store found the
            // flag still set: send for it unless another sender started.
            if ctx.wake_at.load(Ordering::Acquire) > sent
                && !ctx.waking.swap(true, Ordering::AcqRel)
            {
                continue;
            }
            return;
        }
    });
}
