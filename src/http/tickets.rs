//! `/api/tickets` (paged), `/api/changes` and `/api/stats`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::value::RawValue;

use super::ApiError;
use super::auth::StaffSession;
use crate::limits::{ClientIp, Scope};
use crate::state::AppState;
use crate::store::Stats;
use crate::stream::Resume;
use crate::tickets::query::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest, Position, parse_limit};
use crate::tickets::{Ticket, TicketId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", get(list).post(create))
        .route("/api/changes", get(changes))
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

/// `GET /api/tickets`: a page of tickets, newest first (see
/// `tickets::query`); `?all=true` is the deprecated unpaged array.
async fn list(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let params = query_pairs(&uri)?;
    let all = params.iter().find(|(k, _)| k == "all");
    if let Some((_, value)) = all {
        if value != "true" || params.len() > 1 {
            return Err(ApiError::invalid(
                "all: only all=true, alone, asks for the unpaged list",
            ));
        }
        let mut response = Json(state.service.tickets()).into_response();
        response
            .headers_mut()
            .insert("deprecation", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let request = PageRequest::parse(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let page = state.service.page(&request);
    Ok(Json(PageBody {
        next_cursor: page.next.map(Position::to_cursor),
        tickets: page.tickets,
        total: page.total,
    })
    .into_response())
}

/// The query's name-value pairs, percent-decoded.
pub fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| ApiError::invalid("query: cannot be decoded as name=value pairs"))
}

#[derive(Serialize)]
struct PageBody {
    tickets: Vec<Arc<Ticket>>,
    next_cursor: Option<String>,
    total: usize,
}

/// `GET /api/changes?epoch=E&since=V&limit=N`: the change events after V,
/// as the sockets send them, for clients that poll. Internal notes only
/// with a staff `Authorization: Bearer` token.
async fn changes(
    State(state): State<AppState>,
    staff: Option<StaffSession>,
    uri: Uri,
) -> Result<Json<ChangesBody>, ApiError> {
    let params = query_pairs(&uri)?;
    let mut limit = DEFAULT_LIMIT;
    let (mut epoch, mut since) = (None, None);
    for (name, value) in &params {
        match name.as_str() {
            "epoch" => epoch = Some(value.as_str()),
            "since" => since = Some(value.as_str()),
            "limit" => {
                limit =
                    parse_limit(value, MAX_LIMIT).map_err(|e| ApiError::invalid(e.to_string()))?
            }
            other => return Err(ApiError::invalid(format!("{other}: unknown parameter"))),
        }
    }
    let resume = Resume::parse(epoch, since).map_err(|e| ApiError::invalid(e.to_string()))?;
    let changes = state.service.changes(resume, limit, staff.is_some());
    Ok(Json(ChangesBody {
        epoch: changes.epoch,
        v: changes.version,
        recovered: changes.recovered,
        events: changes.events.iter().map(|p| p.frame.to_raw()).collect(),
        more: changes.more,
    }))
}

#[derive(Serialize)]
struct ChangesBody {
    epoch: uuid::Uuid,
    v: u64,
    recovered: bool,
    /// The frames as the sockets send them: `{"event","data","v"}`.
    events: Vec<Box<RawValue>>,
    more: bool,
}

async fn create(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Response), ApiError> {
    // The same submission limit as `submit_ticket` on the WebSocket.
    state.limits.check(Scope::Submit, client)?;
    let submitted = state.service.submit(json_body(&headers, &body)?).await?;
    Ok((
        // A retry with an idempotency key already used: 200 with the ticket
        // the first submission created (and `"replayed": true`).
        if submitted.replayed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(Created {
            ticket: &submitted.ticket,
            follow_token: submitted.follow_token.as_deref(),
            replayed: submitted.replayed,
        })
        .into_response(),
    ))
}

/// A new ticket as its submitter is answered: the ticket, plus the
/// requester's follow token (given here only).
#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    ticket: &'a Ticket,
    #[serde(skip_serializing_if = "Option::is_none")]
    follow_token: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
}

async fn stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.service.stats())
}
