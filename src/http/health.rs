//! Health and metrics: `/healthz`, `/readyz` (on both listeners) and
//! `/metrics` (on the metrics listener only).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// Health on the public port.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// What the metrics listener serves.
pub fn ops_routes() -> Router<AppState> {
    routes().route("/metrics", get(metrics))
}

/// Answers while the process serves.
async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 while the store is loaded and writable and the server is not
/// shutting down; 503 otherwise, with the reason (a full disk says so).
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let store = state.service.store();
    if state.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into())
    } else if !store.is_writable() || !store.writer_alive() {
        let why = store
            .failure()
            .unwrap_or_else(|| "the store writer stopped".into());
        let text = if store.database_behind() == Some(true) {
            format!("{why}; restart this instance to load the store afresh\n")
        } else if store.database_version().is_some() && store.writer_alive() {
            format!("{why}; changes are refused until it answers (reconnecting)\n")
        } else {
            format!(
                "store is read-only after a write failure: {why}; restart to recover (the journal is replayed)\n"
            )
        };
        (StatusCode::SERVICE_UNAVAILABLE, text)
    } else {
        (StatusCode::OK, "ready\n".into())
    }
}

/// The Prometheus text exposition; the store's gauges are read now.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.service.store();
    state.metrics.observe_store(
        &store.stats(),
        store.disk_bytes(),
        store.is_writable(),
        store.commit_failures(),
    );
    if let Some(figures) = store.database_figures() {
        state.metrics.observe_database(&figures);
    }
    state.metrics.observe_limits(&state.limits);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
