//! The HTTPS side: the JSON API, health, and the embedded browser app;
//! plus what the metrics listener serves.
//!
//! Handlers are thin: extract, call the service once, map the result. The
//! error shape lives in `error.rs`; the static files in `assets.rs`; health
//! and `/metrics` in `health.rs`; the request-id and metrics layer in
//! `observe.rs`; the protective layers around every route in `layers.rs`;
//! the plain-HTTP redirect in `redirect.rs`.

mod admin;
mod analytics;
mod assets;
pub mod auth;
mod conversation;
mod export;
mod health;
pub mod layers;
mod observe;
pub mod redirect;
mod tickets;
mod webhooks;

use axum::Router;

use crate::state::AppState;

pub use crate::api_error::ApiError;
pub use health::ops_routes;
pub use observe::observe;

/// Every HTTP route of the public port (no `/metrics` there).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .merge(tickets::routes())
        .merge(export::routes())
        .merge(webhooks::routes())
        .merge(analytics::routes())
        .merge(conversation::routes())
        .merge(admin::routes())
        .merge(auth::routes())
        .merge(assets::routes())
}
