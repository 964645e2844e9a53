//! `/api/tickets` and `/api/stats`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};

use super::ApiError;
use crate::limits::{ClientIp, Scope};
use crate::state::AppState;
use crate::store::Stats;
use crate::tickets::{Ticket, TicketId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", get(list).post(create))
        .route("/api/tickets/{id}", get(show))
        .route("/api/stats", get(stats))
}

/// Parses a ticket id from the path; a malformed one is `invalid_payload`.
pub fn parse_id(raw: &str) -> Result<TicketId, ApiError> {
    TicketId::parse_str(raw).map_err(|_| ApiError::invalid("ticket_id: not a UUID"))
}

/// Parses a JSON request body without echoing parser internals. The body
/// must be declared `Content-Type: application/json` (415 otherwise): a
/// foreign page can send a form or `text/plain` post without a CORS
/// preflight, but not a JSON one, so this keeps other sites from making
/// visitors' browsers submit tickets or try logins.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, ApiError> {
    let declared_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !declared_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            crate::service::ErrorCode::UnsupportedMediaType,
            "the request body must be sent as Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::service::ErrorCode::BadFrame,
            "the request body is not valid JSON",
        )
    })
}

async fn list(State(state): State<AppState>) -> Json<Vec<Arc<Ticket>>> {
    Json(state.service.tickets())
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Arc<Ticket>>, ApiError> {
    let id = parse_id(&id)?;
    state
        .service
        .ticket(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no ticket with id {id}")))
}

async fn create(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Arc<Ticket>>), ApiError> {
    // The same submission limit as `submit_ticket` on the WebSocket.
    state.limits.check(Scope::Submit, client)?;
    let ticket = state.service.submit(json_body(&headers, &body)?).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

async fn stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.service.stats())
}
