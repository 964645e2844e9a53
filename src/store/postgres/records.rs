//! What instances sharing a database must also share besides the tickets:
//! the audit trail (`ticketd_audit`) and the sessions that were logged out
//! (`ticketd_revoked`). A small pool of its own, so an audit write never
//! waits behind the store's group commits.

use std::time::Duration;

use deadpool_postgres::Pool;

use super::{Connector, DatabaseConfig, migrate, why};

/// Connections for the audit trail and the revocations.
const POOL: usize = 2;
/// The advisory lock revocations commit under ("revoked" in ASCII).
const REVOKE_LOCK: i64 = 0x0072_6576_6f6b_6564;

/// The shared records of one database.
pub struct Records {
    pool: Pool,
    timeout: Duration,
    /// Who to name in errors (the URL without its password).
    describe: String,
}

/// A logged-out session, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub jti: String,
    /// Unix seconds: when the session would have expired.
    pub expires_at: u64,
}

impl Records {
    /// Connects and migrates (under the advisory lock, so instances
    /// starting together migrate once).
    pub async fn connect(db: &DatabaseConfig) -> Result<Records, String> {
        let describe = db.describe();
        let connector = Connector::new(db)?;
        migrate(&connector)
            .await
            .map_err(|e| format!("database {describe}: {e}"))?;
        Ok(Records {
            pool: connector.pool(POOL, db.timeout)?,
            timeout: db.timeout,
            describe,
        })
    }

    /// Runs `f` on a pooled connection within the timeout.
    async fn with<T, F>(&self, what: &str, f: F) -> Result<T, String>
    where
        F: AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
    {
        let run = async {
            let client = self.pool.get().await.map_err(why)?;
            f(&client).await.map_err(why)
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", self.timeout.as_millis())))
            .map_err(|e| format!("database {} ({what}): {e}", self.describe))
    }

    /// Appends audit entries (each a JSON object) in one statement.
    pub async fn append_audit(&self, entries: &[String]) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        self.with("audit", async |c| {
            c.execute(
                "INSERT INTO ticketd_audit (body) SELECT b::json FROM unnest($1::text[]) WITH ORDINALITY AS e(b, o) ORDER BY o",
                &[&entries],
            )
            .await
        })
        .await
        .map(drop)
    }

    /// The newest `limit` audit entries of every instance, newest first.
    pub async fn recent_audit(&self, limit: usize) -> Result<Vec<serde_json::Value>, String> {
        let limit = limit as i64;
        let rows = self
            .with("audit", async |c| {
                c.query(
                    "SELECT body::text FROM ticketd_audit ORDER BY id DESC LIMIT $1",
                    &[&limit],
                )
                .await
            })
            .await?;
        rows.iter()
            .map(|row| serde_json::from_str(row.get::<_, &str>(0)).map_err(why))
            .collect()
    }

    /// Records a logged-out session, durably, for every instance.
    pub async fn revoke(&self, jti: &str, expires_at: u64) -> Result<(), String> {
        let expires_at = expires_at as i64;
        // Revocations take a lock for their transaction (one statement), so they commit in
        // `seq` order and a reader that has seen `seq` N has seen every
        // one before it (a bare sequence commits out of order).
        self.with("revoke", async |c| {
            c.execute(
                "WITH held AS (SELECT pg_advisory_xact_lock($3::bigint)) \
                 INSERT INTO ticketd_revoked (jti, expires_at) SELECT $1::text, $2::bigint FROM held \
                 ON CONFLICT (jti) DO NOTHING",
                &[&jti, &expires_at, &REVOKE_LOCK],
            )
            .await
        })
        .await
        .map(drop)
    }

    /// Revocations recorded after `seq` (0: all) that have not expired by
    /// `now` (Unix seconds), with the newest `seq` read. With `prune`,
    /// expired ones are deleted first (they can no longer be presented).
    pub async fn revoked_after(
        &self,
        seq: i64,
        now: u64,
        prune: bool,
    ) -> Result<(i64, Vec<Revoked>), String> {
        let now = now as i64;
        let horizon = now - crate::auth::session::LEEWAY_SECS as i64;
        let rows = self
            .with("revocations", async |c| {
                if prune {
                    c.execute(
                        "DELETE FROM ticketd_revoked WHERE expires_at < $1",
                        &[&horizon],
                    )
                    .await?;
                }
                c.query(
                    "SELECT jti, expires_at, seq FROM ticketd_revoked WHERE seq > $1 AND expires_at >= $2 ORDER BY seq",
                    &[&seq, &horizon],
                )
                .await
            })
            .await?;
        let newest = rows.last().map_or(seq, |r| r.get::<_, i64>(2));
        let revoked = rows
            .iter()
            .map(|r| Revoked {
                jti: r.get(0),
                expires_at: r.get::<_, i64>(1).max(0) as u64,
            })
            .collect();
        Ok((newest, revoked))
    }
}
