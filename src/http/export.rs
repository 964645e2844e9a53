//! `GET /api/tickets/export.csv`: every ticket the listing's filters match,
//! as a CSV download for staff (an agent's or admin's Bearer token).
//!
//! This file only speaks HTTP: it parses the query (`tickets::export`),
//! names the file, and sends the service's stream of CSV chunks as the
//! body as it is produced (`Body::from_stream`), so a large export is never
//! built in memory. The walk, the encoding and the audit entry are the
//! service's (`service::export`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;

use super::ApiError;
use super::auth::StaffSession;
use super::tickets::query_pairs;
use crate::limits::ClientIp;
use crate::state::AppState;
use crate::tickets::export::ExportRequest;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/tickets/export.csv", get(export))
}

/// The filters of `GET /api/tickets` (no `limit` or `cursor`) and `bom=1`;
/// a bad or unknown parameter is 400 `invalid_payload` naming it.
async fn export(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffSession(staff): StaffSession,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = query_pairs(&uri)?;
    let request = ExportRequest::parse(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let csv = state.service.export_csv(
        &staff.staff(),
        request,
        uri.query().unwrap_or_default(),
        Some(client),
    );
    let disposition = format!(
        "attachment; filename=\"tickets-{}.csv\"",
        Utc::now().format("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(csv),
    )
        .into_response())
}
