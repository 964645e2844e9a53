//! Staff routes over HTTPS: the same service calls (and broadcasts) as the
//! WebSocket `admin_command`; the service checks the role each needs.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::auth::StaffSession;
use super::conversation::follow_param;
use super::tickets::{json_body, parse_id};
use crate::limits::{ClientIp, Scope};
use crate::protocol::{check_assignee, parse_action, parse_priority};
use crate::service::{AdminAction, ErrorCode};
use crate::state::AppState;
use crate::tickets::{Role, take_strings};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", delete(clear))
        .route("/api/tickets/{id}", delete(remove))
        .route("/api/tickets/{id}/resolve", post(resolve))
        .route("/api/tickets/{id}/reopen", post(reopen))
        .route("/api/tickets/{id}/priority", put(priority))
        .route("/api/tickets/{id}/assign", post(assign))
        .route("/api/tickets/{id}/status", post(set_status))
        .route("/api/audit", get(audit))
}

type Done = Result<Json<serde_json::Value>, ApiError>;

async fn run(
    state: &AppState,
    admin: &StaffSession,
    action: AdminAction,
    client: std::net::IpAddr,
) -> Done {
    let done = state
        .service
        .admin(&admin.0.staff(), action, Some(client))
        .await?;
    state.metrics.admin_action(done.action);
    Ok(answer(
        &done.message,
        done.action,
        done.ticket.as_deref(),
        done.count,
    ))
}

/// `{"message","action","ticket","count"}`, the ticket serialized in place
/// (its floats exactly as broadcast).
fn answer(
    message: &str,
    action: &str,
    ticket: Option<&crate::tickets::Ticket>,
    count: Option<usize>,
) -> Json<serde_json::Value> {
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        message: &'a str,
        action: &'a str,
        ticket: Option<&'a crate::tickets::Ticket>,
        count: Option<usize>,
    }
    let text = serde_json::to_string(&Answer {
        message,
        action,
        ticket,
        count,
    })
    .unwrap_or_default();
    Json(serde_json::from_str(&text).unwrap_or_default())
}

async fn remove(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    admin: StaffSession,
    Path(id): Path<String>,
) -> Done {
    run(&state, &admin, AdminAction::Delete(parse_id(&id)?), client).await
}

async fn resolve(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    admin: StaffSession,
    Path(id): Path<String>,
) -> Done {
    run(&state, &admin, AdminAction::Resolve(parse_id(&id)?), client).await
}

/// Staff reopen with a Bearer token; a requester with `?follow=TOKEN`.
async fn reopen(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Option<StaffSession>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let follow = match follow_param(&uri) {
        Ok(follow) => follow,
        Err(e) => return e.into_response(),
    };
    match (staff, follow) {
        (Some(staff), _) => run(&state, &staff, AdminAction::Reopen(id), client)
            .await
            .into_response(),
        (None, Some(token)) => reopen_as_requester(&state, client, id, &token)
            .await
            .into_response(),
        (None, None) => super::auth::Unauthorized::new(
            "reopen needs a staff session (Authorization: Bearer <token from /api/auth/login>) or the ticket's ?follow= token",
        )
        .into_response(),
    }
}

/// The requester's reopen, with the ticket's follow token.
async fn reopen_as_requester(
    state: &AppState,
    client: std::net::IpAddr,
    id: crate::tickets::TicketId,
    token: &str,
) -> Done {
    state.limits.check(Scope::Submit, client)?;
    let ticket = state
        .service
        .reopen_as_requester(id, token, Some(client))
        .await?;
    Ok(answer(
        &format!("ticket {id}: reopen done"),
        "reopen",
        Some(&ticket),
        None,
    ))
}

async fn priority(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    admin: StaffSession,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Done {
    let id = parse_id(&id)?;
    let [raw] = take_strings(json_body(&headers, &body)?, ["priority"], &[])
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let priority = parse_priority(&raw.unwrap_or_default())?;
    run(
        &state,
        &admin,
        AdminAction::SetPriority(id, priority),
        client,
    )
    .await
}

/// `{"assignee"?, "team"?}` (assignee null unassigns) or `{"status",
/// "pending_reason"?}`: the body of the socket command without its name
/// and ticket id, parsed by the same code.
fn command_body(
    command: &str,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<AdminAction, ApiError> {
    let id = parse_id(id)?;
    let serde_json::Value::Object(mut map) = json_body(headers, body)? else {
        return Err(ApiError::invalid("the body must be a JSON object"));
    };
    for key in ["command", "ticket_id"] {
        if map.contains_key(key) {
            return Err(ApiError::invalid(format!("unknown field {key:?}")));
        }
    }
    map.insert("command".into(), command.into());
    map.insert("ticket_id".into(), id.to_string().into());
    Ok(parse_action(serde_json::Value::Object(map))?)
}

/// `POST /api/tickets/{id}/assign` and `/status`: the socket command's
/// body, checked as the socket path checks it.
async fn lifecycle(
    command: &str,
    state: AppState,
    client: std::net::IpAddr,
    staff: StaffSession,
    id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Done {
    let action = command_body(command, &id, &headers, &body)?;
    check_assignee(&state.auth, &action)?;
    run(&state, &staff, action, client).await
}

async fn assign(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: StaffSession,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Done {
    lifecycle("assign", state, client, staff, id, headers, body).await
}

async fn set_status(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: StaffSession,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Done {
    lifecycle("set_status", state, client, staff, id, headers, body).await
}

#[derive(Deserialize)]
struct Confirm {
    confirm: Option<String>,
}

async fn clear(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    admin: StaffSession,
    Query(confirm): Query<Confirm>,
) -> Done {
    if confirm.confirm.as_deref() != Some("true") {
        return Err(ApiError::invalid(
            "clearing every ticket needs ?confirm=true",
        ));
    }
    run(&state, &admin, AdminAction::ClearAll, client).await
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<String>,
}

/// The most audit entries one request returns.
const MAX_AUDIT: usize = 1000;

async fn audit(
    State(state): State<AppState>,
    staff: StaffSession,
    Query(limit): Query<Limit>,
) -> Done {
    if !staff.0.role.allows(Role::Admin) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "the audit trail needs the admin role",
        ));
    }
    let limit = match limit.limit.as_deref() {
        None => 100,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_AUDIT).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1 to {MAX_AUDIT}")))?,
    };
    let entries = state.service.audit_recent(limit).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read the audit log");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the audit log could not be read",
        )
    })?;
    Ok(Json(json!(entries)))
}
