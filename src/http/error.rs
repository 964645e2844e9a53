//! The one JSON error shape of the HTTP API: `{"error":{"code","message"}}`,
//! with the same codes as the WebSocket protocol.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::protocol::ProtocolError;
use crate::service::{ErrorCode, ServiceError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
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
    serde_json::json!({ "error": { "code": code.as_str(), "message": message } })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(body(self.code, &self.message))).into_response()
    }
}
