//! The one JSON error shape of every HTTP answer — the API, a refused
//! WebSocket upgrade, a refused Socket.IO request:
//! `{"error":{"code","message"}}` with the protocol's codes, and
//! `Retry-After` when waiting helps. Shared by the `http`, `ws` and
//! `socketio` transports (which never import each other).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::limits::RetryAfter;
use crate::protocol::ProtocolError;
use crate::service::{ErrorCode, ServiceError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Sent as `Retry-After` (whole seconds, rounded up).
    pub retry_after: Option<RetryAfter>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `rate_limited`, with `Retry-After`.
    pub fn rate_limited(wait: RetryAfter) -> Self {
        ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("too many requests; retry in {} s", wait.as_secs_ceil()),
            )
        }
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, wait: Option<RetryAfter>) -> Self {
        self.retry_after = wait;
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidPayload, message)
    }
}

/// The status for each protocol error code.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadFrame | ErrorCode::InvalidPayload | ErrorCode::UnknownEvent => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::InvalidTransition | ErrorCode::EditWindowClosed | ErrorCode::LimitReached => {
            StatusCode::CONFLICT
        }
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let code = e.code();
        ApiError::new(status_for(code), code, e.to_string())
    }
}

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> Self {
        ApiError::new(status_for(e.code), e.code, e.message)
    }
}

/// The body of every error response.
pub fn body(code: ErrorCode, message: &str) -> serde_json::Value {
    crate::protocol::error_body(code, message)
}

impl From<RetryAfter> for ApiError {
    fn from(wait: RetryAfter) -> Self {
        ApiError::rate_limited(wait)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(body(self.code, &self.message))).into_response();
        if let Some(wait) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs_ceil()));
        }
        response
    }
}

/// A refused request (a WebSocket upgrade, a Socket.IO handshake) as a
/// response: the JSON error shape, and `Retry-After` when given.
pub fn refuse(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    retry_after: Option<RetryAfter>,
) -> Response {
    ApiError::new(status, code, message)
        .retry_after(retry_after)
        .into_response()
}
