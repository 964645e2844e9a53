//! The HTTPS side: the JSON API, health, and the embedded browser app.
//!
//! Handlers are thin: extract, call the service once, map the result. The
//! error shape lives in `error.rs`; the static files in `assets.rs`; the
//! protective layers around every route in `layers.rs`; the plain-HTTP
//! redirect in `redirect.rs`.

mod admin;
mod assets;
pub mod auth;
pub mod error;
pub mod layers;
pub mod redirect;
mod tickets;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub use error::ApiError;

/// Every HTTP route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(tickets::routes())
        .merge(admin::routes())
        .merge(auth::routes())
        .merge(assets::routes())
}

async fn healthz() -> &'static str {
    "ok\n"
}
