//! The WebSocket opening handshake (RFC 6455 §4.2), done by hand so the
//! session owns a plain `tokio-tungstenite` stream: that lets it send large
//! messages (`initial_tickets`) as bounded fragments, and send shared
//! broadcast bytes as frames without re-validating them per client.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::service::ErrorCode;

/// A valid upgrade request, ready to be answered.
pub struct Handshake {
    pub on_upgrade: OnUpgrade,
    accept: String,
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

/// Why a request is not a WebSocket upgrade.
#[derive(Debug, Clone, Copy)]
pub struct NotAnUpgrade(StatusCode, &'static str);

fn bad(status: StatusCode, message: &'static str) -> NotAnUpgrade {
    NotAnUpgrade(status, message)
}

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        refusal(self.0, self.1)
    }
}

fn refusal(status: StatusCode, message: &'static str) -> Response {
    let mut response = crate::api_error::refuse(status, ErrorCode::BadFrame, message, None);
    if status == StatusCode::UPGRADE_REQUIRED {
        response
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
}

/// Checks that `request` is a WebSocket upgrade (GET, `Connection: upgrade`,
/// `Upgrade: websocket`, version 13, a key) and takes its upgrade handle.
pub fn check(request: &mut Request) -> Result<Handshake, NotAnUpgrade> {
    if request.method() != Method::GET {
        return Err(bad(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket upgrade is a GET request",
        ));
    }
    let headers = request.headers();
    if !has_token(headers, header::CONNECTION, "upgrade")
        || !has_token(headers, header::UPGRADE, "websocket")
    {
        return Err(bad(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket only",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(bad(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is supported",
        ));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(bad(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"));
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = request
        .extensions_mut()
        .remove::<OnUpgrade>()
        .ok_or_else(|| {
            bad(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded (HTTP/1.1 is required)",
            )
        })?;
    Ok(Handshake { on_upgrade, accept })
}

impl Handshake {
    /// The `101 Switching Protocols` answer.
    pub fn response(&self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&self.accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response.into_response()
    }
}
