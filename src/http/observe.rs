//! The layer every public request passes: a request id and a tracing span
//! for its log lines, one access line, and the HTTP metrics.
//!
//! Metrics are labelled by the matched route *template* (`/api/tickets/{id}`),
//! never the raw path; a request that matches no route is labelled
//! `unmatched` (or `/socket.io/`, under that prefix), and an unusual method
//! `other`, so random paths or methods add no series.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::UNMATCHED_ROUTE;
use crate::state::AppState;
use crate::telemetry::RequestId;

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = match &route {
        Some(route) => route.as_str(),
        // Socket.IO answers in a layer before routing: one label for all.
        None if request.uri().path().starts_with(crate::socketio::PATH) => crate::socketio::ROUTE,
        None => UNMATCHED_ROUTE,
    };
    let method = method_label(request.method());
    let id = RequestId::new();
    request.extensions_mut().insert(id);
    // The path without its query string: a query may carry a token.
    let span = tracing::info_span!("request", %id, method, path = request.uri().path());
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    state
        .metrics
        .http_request(route, method, status.as_str(), elapsed);
    span.in_scope(|| {
        tracing::info!(
            route,
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"FROBNICATE").unwrap();
        assert_eq!(method_label(&odd), "other");
    }
}
