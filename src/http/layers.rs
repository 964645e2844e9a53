//! The layers every HTTP response passes through, outermost first:
//!
//! 1. security headers (HSTS, CSP, nosniff, referrer, COOP) on every
//!    response, errors and 429s included, and `Cache-Control: no-store` on
//!    `/api`;
//! 2. one error shape: an error response that is not already our JSON (a
//!    404 for an unknown path, 405, 408, 413, an extractor's rejection) is
//!    replaced by `{"error":{"code","message"}}` with a fixed message, so no
//!    parser or framework text ever reaches a client;
//! 3. a panic in a handler becomes a 500 with a fixed body;
//! 4. who the client is ([`ClientIp`], from the peer and trusted proxies),
//!    and the per-client HTTP rate limit (429 with `Retry-After`), except
//!    under [`Hardening::own_rate_limit`] (Socket.IO polling, which spends
//!    its own budget in `socketio`);
//! 5. the whole-request timeout (408) and the body limit (413).
//!
//! The WebSocket upgrade passes through them too; its own checks (Origin,
//! upgrade rate, connection caps) are in `ws`. So does every Socket.IO
//! request (its layer sits inside these), with its checks in `socketio`.

use std::any::Any;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::ApiError;
use crate::api_error::body;
use crate::limits::{ClientIp, Limits, Scope};
use crate::service::ErrorCode;

/// The settings of the layers.
#[derive(Clone)]
pub struct Hardening {
    pub limits: Arc<Limits>,
    /// Largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// Longest a whole request may take (408 beyond).
    pub request_timeout: Duration,
    /// A path (exactly this path, not a prefix) whose requests skip the HTTP
    /// rate limit because an inner layer spends a budget of its own
    /// (`/socket.io/`), if any.
    pub own_rate_limit: Option<&'static str>,
}

/// `Content-Security-Policy`: scripts and styles from files of our own
/// origin only (no inline script), no framing, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every response carries.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "strict-transport-security",
        // No includeSubDomains: the development certificate is for
        // localhost, and a browser would pin every *.localhost name.
        "max-age=31536000",
    ),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Wraps the application's routes in every protective layer.
pub fn harden(app: Router, settings: &Hardening) -> Router {
    let limit = settings.max_body_bytes;
    let inner = app
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            (settings.limits.clone(), settings.own_rate_limit),
            client_and_rate_limit,
        ));
    with_headers(
        inner
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(middleware::from_fn(json_errors)),
    )
}

/// The security headers (and `no-store` on `/api`), for any router.
pub fn with_headers(app: Router) -> Router {
    let app = app.layer(middleware::from_fn(no_store_on_api));
    SECURITY_HEADERS.iter().fold(app, |app, (name, value)| {
        app.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ))
    })
}

/// `/api` answers change with every ticket: never cache them.
async fn no_store_on_api(request: Request, next: Next) -> Response {
    let api = request.uri().path() == "/api" || request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Resolves the client (the peer, or the client behind a trusted proxy),
/// records it for handlers, and spends one cell of its HTTP rate limit
/// (unless the path is the one with a limit of its own).
async fn client_and_rate_limit(
    State((limits, own_rate_limit)): State<(Arc<Limits>, Option<&'static str>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let ip = limits.client_ip(peer, forwarded_for(request.headers()));
    request.extensions_mut().insert(ClientIp(ip));
    if own_rate_limit.is_some_and(|path| request.uri().path() == path) {
        return next.run(request).await;
    }
    match limits.check(Scope::Http, ip) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            tracing::debug!(client = %ip, path = request.uri().path(), "http rate limit");
            ApiError::rate_limited(wait).into_response()
        }
    }
}

/// Every `X-Forwarded-For` value, in order, as bytes.
pub fn forwarded_for(headers: &axum::http::HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .map(HeaderValue::as_bytes)
}

/// Handlers take the client's address as an extractor; it is set by
/// [`harden`]'s layer (and falls back to the TCP peer without it).
impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(peer))
    }
}

/// A panic's message may hold anything: log it, answer a fixed body.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "internal error",
    )
    .into_response()
}

/// Replaces the body of an error response that is not our JSON.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_error || is_json {
        return response;
    }
    let (code, message) = generic(status);
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let bytes = serde_json::to_vec(&body(code, message)).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

/// A fixed code and message for a status.
fn generic(status: StatusCode) -> (ErrorCode, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this method is not allowed here",
        ),
        StatusCode::REQUEST_TIMEOUT => (ErrorCode::Timeout, "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "too many requests"),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "not authorized"),
        StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "forbidden"),
        StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::Overloaded, "try again later"),
        s if s.is_client_error() => (ErrorCode::InvalidPayload, "the request could not be read"),
        _ => (ErrorCode::Internal, "internal error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    use crate::limits::Policy;

    fn app(policy: Policy) -> Router {
        let routes = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/api/boom",
                get(|| async {
                    if true {
                        panic!("secret detail /etc/passwd");
                    }
                    "unreachable"
                }),
            )
            .route("/api/echo", post(|body: String| async move { body }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        harden(
            routes,
            &Hardening {
                limits: Arc::new(Limits::new(&policy)),
                max_body_bytes: 16,
                request_timeout: Duration::from_millis(100),
                own_rate_limit: Some("/own/"),
            },
        )
    }

    fn request(method: &str, path: &str, body: &'static str) -> Request {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
        request
    }

    async fn send(app: &Router, request: Request) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn assert_security_headers(headers: &axum::http::HeaderMap) {
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(headers.get(name).unwrap(), value, "{name}");
        }
    }

    #[tokio::test]
    async fn a_panic_is_a_fixed_500_with_the_headers() {
        let app = app(Policy::default());
        let (status, headers, body) = send(&app, request("GET", "/api/boom", "")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_security_headers(&headers);
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        assert_eq!(
            body,
            r#"{"error":{"code":"internal","message":"internal error"}}"#
        );
    }

    #[tokio::test]
    async fn framework_errors_become_the_json_shape() {
        let app = app(Policy::default());
        let (status, headers, body) = send(&app, request("GET", "/nowhere", "")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_security_headers(&headers);
        assert!(headers.get("cache-control").is_none());
        assert_eq!(
            body,
            r#"{"error":{"code":"not_found","message":"no such resource"}}"#
        );

        let (status, headers, body) = send(&app, request("POST", "/ok", "")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(headers.get("allow").is_some());
        assert!(body.contains("method_not_allowed"), "{body}");

        let big = "x".repeat(17).leak();
        let (status, headers, body) = send(&app, request("POST", "/api/echo", big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_security_headers(&headers);
        assert!(body.contains("payload_too_large"), "{body}");
        let (status, _, body) = send(&app, request("POST", "/api/echo", "small")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "small"));

        let (status, _, body) = send(&app, request("GET", "/slow", "")).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(body.contains("\"timeout\""), "{body}");
    }

    #[tokio::test]
    async fn rate_limited_requests_get_429_with_retry_after() {
        let app = app(Policy {
            http: (
                "1/min".parse().unwrap(),
                std::num::NonZeroU32::new(2).unwrap(),
            ),
            ..Policy::default()
        });
        for _ in 0..2 {
            let (status, ..) = send(&app, request("GET", "/ok", "")).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, headers, body) = send(&app, request("GET", "/ok", "")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_security_headers(&headers);
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(body.contains("rate_limited"), "{body}");
        // The path with a limit of its own is not counted here; a path
        // that merely starts with it is.
        let (status, ..) = send(&app, request("GET", "/own/", "")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, ..) = send(&app, request("GET", "/own/x", "")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
}
