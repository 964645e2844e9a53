//! `GET /api/analytics?from=&to=&bucket=day|week`: the ticket figures for
//! staff (an agent's or admin's Bearer token), as JSON. Only HTTP here: the
//! parameters are parsed by `tickets::analytics`, the figures are the
//! service's.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiError;
use super::auth::StaffSession;
use super::tickets::query_pairs;
use crate::state::AppState;
use crate::tickets::analytics::{Analytics, AnalyticsQuery};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/analytics", get(analytics))
}

/// A bad or unknown parameter, or a range it cannot cover, is 400
/// `invalid_payload` naming it.
async fn analytics(
    State(state): State<AppState>,
    StaffSession(_staff): StaffSession,
    uri: Uri,
) -> Result<Json<Analytics>, ApiError> {
    let params = query_pairs(&uri)?;
    let query = AnalyticsQuery::parse(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let report = state
        .service
        .analytics(&query)
        .await
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Json(report))
}
