//! The outbound deliveries, for admins:
//! - `GET /api/webhooks/deliveries?limit=` — the newest attempts (endpoint,
//!   delivery id, event, status code, latency, error, what became of it)
//!   and what is still pending, with each endpoint's queue;
//! - `POST /api/webhooks/deliveries/{id}/retry` — delivers it again (the
//!   same `webhook-id`), audited;
//! - `POST /api/webhooks/endpoints/{name}/enable` — turns a disabled
//!   endpoint back on, audited.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::auth::StaffSession;
use crate::audit::AuditEntry;
use crate::limits::ClientIp;
use crate::notify::outbox::RetryError;
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::tickets::Role;

/// The most attempts one answer lists.
const MAX_LIMIT: usize = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/webhooks/deliveries", get(deliveries))
        .route("/api/webhooks/deliveries/{id}/retry", post(retry))
        .route("/api/webhooks/endpoints/{name}/enable", post(enable))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<String>,
}

fn admin(staff: &StaffSession) -> Result<(), ApiError> {
    if staff.0.role.allows(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "outbound deliveries need the admin role",
        ))
    }
}

async fn deliveries(
    State(state): State<AppState>,
    staff: StaffSession,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let limit = match limit.limit.as_deref() {
        None => 100,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1 to {MAX_LIMIT}")))?,
    };
    let outbox = &state.notifier.outbox;
    let (attempts, pending) = outbox.recent(limit);
    let now = Utc::now();
    let endpoints: Vec<Value> = outbox
        .queue_stats()
        .into_iter()
        .map(|(name, depth, oldest, disabled)| {
            json!({
                "endpoint": name,
                "pending": depth,
                "oldest_pending_seconds": oldest.map(|t| (now - t).num_seconds().max(0)),
                "disabled": disabled,
            })
        })
        .collect();
    Ok(Json(
        json!({ "attempts": attempts, "pending": pending, "endpoints": endpoints }),
    ))
}

async fn audited(
    state: &AppState,
    staff: &StaffSession,
    client: std::net::IpAddr,
    action: &str,
    after: Value,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        time: Utc::now(),
        admin: staff.0.name.clone(),
        action: action.into(),
        outcome: "success",
        ticket_id: None,
        client: Some(client.to_string()),
        before: None,
        after: Some(after),
        reason: None,
    };
    state.service.audit_record(entry).await.map_err(|e| {
        tracing::error!(error = %e, "cannot write the audit log");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the audit log could not be written",
        )
    })
}

async fn retry(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: StaffSession,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&staff)?;
    let endpoint = state
        .notifier
        .outbox
        .requeue(&id, Utc::now())
        .map_err(|e| match e {
            RetryError::Unknown => ApiError::not_found(e.to_string()),
            _ => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidTransition,
                e.to_string(),
            ),
        })?;
    state.notifier.wake(&endpoint);
    audited(
        &state,
        &staff,
        client,
        "notify_redeliver",
        json!({ "delivery": id, "endpoint": endpoint }),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "delivery": id, "endpoint": endpoint, "state": "pending" })),
    ))
}

async fn enable(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: StaffSession,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    if !state.notifier.outbox.enable(&name, Utc::now()) {
        return Err(ApiError::not_found(format!("no endpoint named `{name}`")));
    }
    state.notifier.wake(&name);
    audited(
        &state,
        &staff,
        client,
        "notify_endpoint_enabled",
        json!({ "endpoint": name }),
    )
    .await?;
    Ok(Json(json!({ "endpoint": name, "disabled": false })))
}
