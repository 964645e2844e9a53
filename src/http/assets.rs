//! The browser app, embedded in the binary so it runs from any directory:
//! the board at `/`, the staff analytics page at `/analytics`.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiError;
use crate::state::AppState;

/// Every file in `static/`: (name, content type, bytes). The page is plain
/// ES modules and CSS with no build step, written for a strict
/// Content-Security-Policy (no inline script or style).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../static/index.html"),
    ),
    (
        "analytics.html",
        "text/html; charset=utf-8",
        include_bytes!("../../static/analytics.html"),
    ),
    (
        "analytics.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/analytics.js"),
    ),
    (
        "analytics.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/analytics.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "conversation.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/conversation.js"),
    ),
    (
        "connection.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/connection.js"),
    ),
    (
        "fields.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/fields.js"),
    ),
    (
        "filters.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/filters.js"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/session.js"),
    ),
    (
        "ticket-view.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/ticket-view.js"),
    ),
    (
        "time.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/time.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/analytics", get(|| async { asset("analytics.html") }))
        .route(
            "/static/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::not_found("no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_static_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "add new static files to ASSETS");
    }
}
