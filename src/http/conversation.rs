//! A ticket with its conversation, and the comment routes:
//!
//! - `GET /api/tickets/{id}[?follow=TOKEN]`: the ticket with the comments
//!   the caller may read (`comments`);
//! - `GET /api/tickets/{id}/comments[?follow=TOKEN]`: `{"comments":[…]}`;
//! - `POST /api/tickets/{id}/comments[?follow=TOKEN]` `{"body","visibility"?}`;
//! - `PATCH /api/tickets/{id}/comments/{comment_id}` `{"body"}`;
//! - `DELETE /api/tickets/{id}/comments/{comment_id}`.
//!
//! Staff by `Authorization: Bearer`, a requester by the follow token, as
//! the sockets' `add_comment` does; the same service call either way.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::ApiError;
use super::auth::StaffSession;
use super::tickets::{json_body, parse_id, query_pairs};
use crate::limits::{ClientIp, Scope};
use crate::protocol::{parse_body, parse_visibility};
use crate::service::{CommentDone, CommentRequest, Participant};
use crate::state::AppState;
use crate::tickets::{Comment, TicketId, take_strings};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tickets/{id}", get(show))
        .route("/api/tickets/{id}/comments", get(list).post(add))
        .route(
            "/api/tickets/{id}/comments/{comment_id}",
            patch(edit).delete(remove),
        )
}

/// The `follow` parameter, the only one these routes take.
pub fn follow_param(uri: &Uri) -> Result<Option<String>, ApiError> {
    let mut follow = None;
    for (name, value) in query_pairs(uri)? {
        match name.as_str() {
            "follow" => follow = Some(value),
            other => return Err(ApiError::invalid(format!("{other}: unknown parameter"))),
        }
    }
    Ok(follow)
}

/// Who asks: staff by token (a bad token is refused, never read as
/// anonymous), else the follow token's holder, else anyone.
pub fn participant(staff: Option<StaffSession>, follow: Option<String>) -> Participant {
    match (staff, follow) {
        (Some(StaffSession(identity)), _) => Participant::Staff(identity.staff()),
        (None, Some(token)) => Participant::Follower(token),
        (None, None) => Participant::Anonymous,
    }
}

fn not_found(id: TicketId) -> ApiError {
    ApiError::not_found(format!("no ticket with id {id}"))
}

async fn show(
    State(state): State<AppState>,
    staff: Option<StaffSession>,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<axum::response::Response, ApiError> {
    let id = parse_id(&id)?;
    let who = participant(staff, follow_param(&uri)?);
    let (ticket, comments) = state
        .service
        .conversation(id, &who)
        .map_err(|_| not_found(id))?;
    Ok(Json(WithComments {
        ticket: &ticket,
        comments: &comments,
    })
    .into_response())
}

/// A ticket with the comments its reader may see.
#[derive(serde::Serialize)]
struct WithComments<'a> {
    #[serde(flatten)]
    ticket: &'a crate::tickets::Ticket,
    comments: &'a [Arc<Comment>],
}

async fn list(
    State(state): State<AppState>,
    staff: Option<StaffSession>,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let who = participant(staff, follow_param(&uri)?);
    let (_, comments) = state
        .service
        .conversation(id, &who)
        .map_err(|_| not_found(id))?;
    Ok(Json(json!({ "comments": comments })))
}

/// Runs a comment request; a follower's spends the submission limit.
async fn run(
    state: &AppState,
    client: std::net::IpAddr,
    id: TicketId,
    who: Participant,
    request: CommentRequest,
) -> Result<CommentDone, ApiError> {
    if matches!(who, Participant::Follower(_)) {
        state.limits.check(Scope::Submit, client)?;
    }
    Ok(state
        .service
        .comment(id, who, request, Some(client))
        .await?)
}

fn saved(comment: &Arc<Comment>) -> Json<Value> {
    Json(json!({ "comment": comment }))
}

async fn add(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Option<StaffSession>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let who = participant(staff, follow_param(&uri)?);
    let [body, visibility] = take_strings(
        json_body(&headers, &body)?,
        ["body", "visibility"],
        &["visibility"],
    )
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    let request = CommentRequest::Add {
        body: parse_body(body)?,
        visibility: parse_visibility(visibility.as_deref())?,
    };
    Ok(match run(&state, client, id, who, request).await? {
        CommentDone::Saved { comment, .. } => (StatusCode::CREATED, saved(&comment)),
        CommentDone::Linked(submitted) => (StatusCode::CREATED, linked(&submitted)),
    })
}

/// A reply that started a new ticket: the ticket (serialized in place, as
/// broadcast), its follow token and the ticket it continues.
fn linked(submitted: &crate::service::Submitted) -> Json<Value> {
    #[derive(serde::Serialize)]
    struct Linked<'a> {
        ticket: &'a crate::tickets::Ticket,
        #[serde(skip_serializing_if = "Option::is_none")]
        follow_token: Option<&'a str>,
        linked_to: Option<TicketId>,
    }
    let body = Linked {
        ticket: &submitted.ticket,
        follow_token: submitted.follow_token.as_deref(),
        linked_to: submitted.ticket.linked_to,
    };
    // To a Value through a string, so the ticket's floats stay as written.
    Json(
        serde_json::from_str(&serde_json::to_string(&body).unwrap_or_default()).unwrap_or_default(),
    )
}

fn comment_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::invalid("comment_id: not a UUID"))
}

fn only_saved(done: CommentDone) -> Json<Value> {
    match done {
        CommentDone::Saved { comment, .. } => saved(&comment),
        // Only a new reply to a closed ticket starts a ticket.
        CommentDone::Linked(submitted) => linked(&submitted),
    }
}

async fn edit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Option<StaffSession>,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let who = participant(staff, follow_param(&uri)?);
    let [body] = take_strings(json_body(&headers, &body)?, ["body"], &[])
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let request = CommentRequest::Edit {
        comment_id: comment_id(&cid)?,
        body: parse_body(body)?,
    };
    Ok(only_saved(run(&state, client, id, who, request).await?))
}

async fn remove(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Option<StaffSession>,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let who = participant(staff, follow_param(&uri)?);
    let request = CommentRequest::Delete {
        comment_id: comment_id(&cid)?,
    };
    Ok(only_saved(run(&state, client, id, who, request).await?))
}
