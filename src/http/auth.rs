//! `/api/auth/*` and the `StaffSession` extractor (`Authorization: Bearer`).

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::ApiError;
use super::tickets::json_body;
use crate::auth::StaffIdentity;
use crate::limits::ClientIp;
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::tickets::take_strings;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/session", get(session))
}

/// A verified admin, taken from `Authorization: Bearer <token>`.
pub struct StaffSession(pub StaffIdentity);

/// 401 with `WWW-Authenticate: Bearer` and the JSON error.
pub struct Unauthorized(String);

impl Unauthorized {
    pub fn new(message: impl Into<String>) -> Unauthorized {
        Unauthorized(message.into())
    }
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, self.0)
            .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

/// An optional session: no `Authorization` header is `None` (an anonymous
/// caller); a header with a bad token is still refused, never taken as
/// anonymous.
impl axum::extract::OptionalFromRequestParts<AppState> for StaffSession {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <StaffSession as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Unauthorized("an admin session is required: Authorization: Bearer <token from /api/auth/login>".into())
            })?;
        state
            .auth
            .verify(token.trim())
            .map(StaffSession)
            .map_err(|e| {
                let client = parts.extensions.get::<ClientIp>().map(|ClientIp(ip)| *ip);
                state.auth.refused(&e, "bearer", client);
                Unauthorized(e.to_string())
            })
    }
}

fn expires(at: u64) -> String {
    DateTime::<Utc>::from_timestamp(at as i64, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Response> {
    state.limits.check_login(client).map_err(|retry| {
        state.metrics.login("rate_limited");
        ApiError::from(retry).into_response()
    })?;
    let [username, password] = take_strings(
        json_body(&headers, &body).map_err(IntoResponse::into_response)?,
        ["username", "password"],
        &[],
    )
    .map_err(|e| ApiError::invalid(e.to_string()).into_response())?;
    let issued = state
        .auth
        .login(
            &username.unwrap_or_default(),
            password.unwrap_or_default(),
            Some(client),
        )
        .await
        .map_err(|e| {
            state.metrics.login("failure");
            Unauthorized(e.to_string()).into_response()
        })?;
    state.metrics.login("success");
    Ok(Json(json!({
        "token": issued.token,
        "token_type": "Bearer",
        "role": issued.claims.role.as_str(),
        "expires_at": expires(issued.claims.exp),
    })))
}

async fn logout(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffSession(admin): StaffSession,
) -> StatusCode {
    state.auth.logout(&admin, Some(client)).await;
    StatusCode::NO_CONTENT
}

/// `{"user","role","expires_at"}`, with `admin` kept as an alias of
/// `user` for the original clients.
async fn session(StaffSession(staff): StaffSession) -> Json<serde_json::Value> {
    Json(json!({
        "user": staff.name,
        "role": staff.role.as_str(),
        "admin": staff.name,
        "expires_at": expires(staff.expires_at),
    }))
}
