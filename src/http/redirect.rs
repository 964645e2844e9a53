//! The optional plain-HTTP listener's one answer: 301 to the same path on
//! HTTPS. It serves nothing else and never upgrades a WebSocket; the target
//! is always one of our own origins, whatever `Host` says.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::layers;
use crate::origin::Origins;

pub fn routes(origins: Arc<Origins>) -> Router {
    let app = Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
        let origins = origins.clone();
        async move { redirect(&origins, &headers, &uri) }
    });
    layers::with_headers(app)
}

fn redirect(origins: &Origins, headers: &HeaderMap, uri: &Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let target = origins.redirect_target(host);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    match HeaderValue::try_from(format!("{target}{path}")) {
        Ok(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
